"""Payloads shaped like Yahoo's documented answers (values invented)."""

from __future__ import annotations

QUOTE = {
    "quoteResponse": {
        "result": [
            {
                "symbol": "AAPL",
                "quoteType": "EQUITY",
                "currency": "USD",
                "exchange": "NMS",
                "regularMarketPrice": 180.1,
                "regularMarketChangePercent": 0.33,
                "regularMarketTime": 1709326800,
                "regularMarketPreviousClose": 179.5,
                "regularMarketVolume": 51234000,
                "bid": 180.09,
                "ask": 180.13,
                "marketState": "REGULAR",
            },
            {
                "symbol": "BRK-B",
                "quoteType": "EQUITY",
                "currency": "USD",
                "exchange": "NYQ",
                "regularMarketPrice": 410.5,
                "regularMarketTime": 1709326800,
            },
        ],
        "error": None,
    }
}
CHART = {
    "chart": {
        "result": [
            {
                "meta": {
                    "symbol": "AAPL",
                    "currency": "USD",
                    "exchangeTimezoneName": "America/New_York",
                    "regularMarketPrice": 180.1,
                    "chartPreviousClose": 179.5,
                    "dataGranularity": "1d",
                    "range": "5d",
                },
                "timestamp": [1709044200, 1709130600],
                "indicators": {
                    "quote": [
                        {
                            "open": [182.1, 181.0],
                            "high": [183.0, 182.2],
                            "low": [181.2, 180.1],
                            "close": [182.6, 181.4],
                            "volume": [40000000, 38000000],
                        }
                    ],
                    "adjclose": [{"adjclose": [182.6, 181.4]}],
                },
                "events": {"dividends": {"1707503400": {"amount": 0.24, "date": 1707503400}}},
            }
        ],
        "error": None,
    }
}
SUMMARY = {
    "quoteSummary": {
        "result": [
            {
                "price": {"regularMarketPrice": 180.1, "currency": "USD", "symbol": "AAPL"},
                "summaryDetail": {"marketCap": 2.8e12, "trailingPE": 28.0, "dividendYield": 0.005},
                "financialData": {"totalRevenue": 3.8e11},
            }
        ],
        "error": None,
    }
}
CHART_NOT_FOUND = {
    "chart": {
        "result": None,
        "error": {"code": "Not Found", "description": "No data found, symbol may be delisted"},
    }
}
SUMMARY_NOT_FOUND = {
    "quoteSummary": {
        "result": None,
        "error": {"code": "Not Found", "description": "Quote not found for symbol: XYZ"},
    }
}
INVALID_CRUMB = {
    "finance": {"result": None, "error": {"code": "Unauthorized", "description": "Invalid Crumb"}}
}
BAD_REQUEST = {
    "chart": {
        "result": None,
        "error": {"code": "Bad Request", "description": "Invalid input - interval=7d"},
    }
}
