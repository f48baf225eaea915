"""The synthetic tool universe of ToolTune's demo dataset.

Everything here is invented for the demo (tools, APIs, companies, prices, recipes, flights, ...).
Numbers are plausible but NOT real data: exchange rates, quotes and weather are made up and derived
deterministically from the arguments with sha256, so the same call always gets the same answer.

Each tool lists its APIs in the ToolBench instruction format (README section 2); each Intent knows how
to phrase a request, which API calls answer it, what the (deterministic) responses are, and how to say
the result in a final answer.
"""

import datetime
import hashlib
import json
import math

from toolbench_format import change_name, standardize, truncate_observation


def h(*parts):
    """A stable 64-bit integer from any reprs (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode("utf-8")).digest()[:8], "big")


def hf(lo, hi, *parts, nd=1):
    """A stable float in [lo, hi) rounded to nd decimals."""
    return round(lo + (hi - lo) * (h(*parts) % 1000003) / 1000003.0, nd)


def P(name, type_, description="", default=""):
    return {"name": name, "type": type_, "description": description, "default": default}


def API(name, description, required, optional, template_response):
    return {"name": name, "description": description, "required": required, "optional": optional,
            "template_response": template_response}


# --------------------------------------------------------------------------------------------------
# World facts (approximate coordinates and standard UTC offsets; weather etc. are synthetic)
# --------------------------------------------------------------------------------------------------

CITIES = {
    # name: (country code, UTC offset hours, lat, lon, mean temperature C, IATA)
    "Paris": ("FR", 1, 48.86, 2.35, 13, "CDG"),
    "Lyon": ("FR", 1, 45.76, 4.84, 14, "LYS"),
    "Berlin": ("DE", 1, 52.52, 13.40, 11, "BER"),
    "Munich": ("DE", 1, 48.14, 11.58, 10, "MUC"),
    "Madrid": ("ES", 1, 40.42, -3.70, 17, "MAD"),
    "Lisbon": ("PT", 0, 38.72, -9.14, 19, "LIS"),
    "Rome": ("IT", 1, 41.90, 12.50, 18, "FCO"),
    "London": ("GB", 0, 51.51, -0.13, 12, "LHR"),
    "Dublin": ("IE", 0, 53.35, -6.26, 10, "DUB"),
    "Reykjavik": ("IS", 0, 64.15, -21.94, 5, "KEF"),
    "New York": ("US", -5, 40.71, -74.01, 13, "JFK"),
    "Chicago": ("US", -6, 41.88, -87.63, 10, "ORD"),
    "Denver": ("US", -7, 39.74, -104.99, 11, "DEN"),
    "San Francisco": ("US", -8, 37.77, -122.42, 15, "SFO"),
    "Toronto": ("CA", -5, 43.65, -79.38, 9, "YYZ"),
    "Mexico City": ("MX", -6, 19.43, -99.13, 17, "MEX"),
    "São Paulo": ("BR", -3, -23.55, -46.63, 20, "GRU"),
    "Buenos Aires": ("AR", -3, -34.60, -58.38, 18, "EZE"),
    "Tokyo": ("JP", 9, 35.68, 139.69, 16, "HND"),
    "Osaka": ("JP", 9, 34.69, 135.50, 17, "KIX"),
    "Seoul": ("KR", 9, 37.57, 126.98, 13, "ICN"),
    "Beijing": ("CN", 8, 39.90, 116.41, 13, "PEK"),
    "Singapore": ("SG", 8, 1.35, 103.82, 28, "SIN"),
    "Mumbai": ("IN", 5.5, 19.08, 72.88, 27, "BOM"),
    "Dubai": ("AE", 4, 25.20, 55.27, 28, "DXB"),
    "Cairo": ("EG", 2, 30.04, 31.24, 22, "CAI"),
    "Nairobi": ("KE", 3, -1.29, 36.82, 19, "NBO"),
    "Cape Town": ("ZA", 2, -33.92, 18.42, 17, "CPT"),
    "Sydney": ("AU", 10, -33.87, 151.21, 18, "SYD"),
    "Auckland": ("NZ", 12, -36.85, 174.76, 15, "AKL"),
    "Zürich": ("CH", 1, 47.37, 8.54, 9, "ZRH"),
    "Kraków": ("PL", 1, 50.06, 19.94, 9, "KRK"),
}
CITY_NAMES = sorted(CITIES)

CONDITIONS = ["sunny", "partly cloudy", "cloudy", "light rain", "showers", "clear", "windy", "foggy"]

# Units per USD (synthetic, plausible magnitudes; not market data)
FX = {"USD": 1.0, "EUR": 0.92, "GBP": 0.79, "JPY": 151.2, "CHF": 0.90, "CAD": 1.36, "AUD": 1.52,
      "INR": 83.1, "BRL": 5.05, "MXN": 17.0, "KRW": 1350.0, "CNY": 7.23, "SEK": 10.6, "NZD": 1.66}
FX_NAMES = {"USD": "US dollars", "EUR": "euros", "GBP": "British pounds", "JPY": "Japanese yen",
            "CHF": "Swiss francs", "CAD": "Canadian dollars", "AUD": "Australian dollars",
            "INR": "Indian rupees", "BRL": "Brazilian reais", "MXN": "Mexican pesos",
            "KRW": "South Korean won", "CNY": "Chinese yuan", "SEK": "Swedish kronor",
            "NZD": "New Zealand dollars"}
FX_CODES = sorted(FX)

# Fictional companies (sample-company names), synthetic prices
STOCKS = {
    "NWTR": ("Northwind Traders", "Consumer Goods", "Seattle", 12400, 84.0),
    "CNSO": ("Contoso Ltd", "Technology", "Redmond", 58200, 312.0),
    "FABK": ("Fabrikam Inc", "Industrials", "Atlanta", 20900, 141.0),
    "TLSP": ("Tailspin Toys", "Consumer Goods", "Denver", 3100, 27.5),
    "WWIM": ("Wide World Importers", "Logistics", "Rotterdam", 8800, 63.0),
    "ADVW": ("Adventure Works", "Outdoor Equipment", "Boulder", 4600, 45.0),
    "LITW": ("Litware Inc", "Software", "Austin", 2300, 19.8),
    "PRSW": ("Proseware", "Software", "Dublin", 6100, 96.0),
    "WDGR": ("Woodgrove Bank", "Financials", "Toronto", 31000, 58.0),
    "ALPN": ("Alpine Ski House", "Leisure", "Zürich", 1500, 12.4),
}
CEOS = ["Ana Ruiz", "Kenji Sato", "Maya Patel", "Lars Nilsson", "Chloé Martin", "Tomás Novak",
        "Grace Okafor", "Liam O'Brien", "Sofia Rossi", "Jae-won Kim"]
STOCK_SYMBOLS = sorted(STOCKS)

COINS = {"BTC": ("Bitcoin", 64000.0), "ETH": ("Ethereum", 3100.0), "SOL": ("Solana", 145.0),
         "ADA": ("Cardano", 0.45), "DOGE": ("Dogecoin", 0.15), "DOT": ("Polkadot", 6.9),
         "LTC": ("Litecoin", 82.0), "XRP": ("XRP", 0.52)}
COIN_CODES = sorted(COINS)

LENGTH = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0, "in": 0.0254, "ft": 0.3048, "yd": 0.9144,
          "mi": 1609.344}
LENGTH_WORDS = {"mm": "millimeters", "cm": "centimeters", "m": "meters", "km": "kilometers",
                "in": "inches", "ft": "feet", "yd": "yards", "mi": "miles"}
WEIGHT = {"g": 1.0, "kg": 1000.0, "oz": 28.349523125, "lb": 453.59237, "st": 6350.29318}
WEIGHT_WORDS = {"g": "grams", "kg": "kilograms", "oz": "ounces", "lb": "pounds", "st": "stone"}
TEMP_WORDS = {"C": "degrees Celsius", "F": "degrees Fahrenheit", "K": "kelvin"}

RECIPES = {
    # ingredient: [(id, title, minutes, diet, servings, ingredients)]
    "chicken": [("rc-101", "Lemon Garlic Chicken", 35, "none", 4,
                 ["4 chicken thighs", "2 lemons", "4 garlic cloves", "olive oil", "thyme"]),
                ("rc-102", "Chicken Tikka Skewers", 50, "none", 4,
                 ["500 g chicken breast", "yogurt", "garam masala", "chili", "lime"]),
                ("rc-103", "Chicken Noodle Soup", 60, "none", 6,
                 ["1 whole chicken", "egg noodles", "carrots", "celery", "onion"])],
    "tofu": [("rc-201", "Crispy Tofu Stir-Fry", 25, "vegan", 2,
              ["400 g firm tofu", "broccoli", "soy sauce", "ginger", "sesame oil"]),
             ("rc-202", "Mapo Tofu", 30, "none", 3,
              ["silken tofu", "minced pork", "doubanjiang", "Sichuan pepper", "scallions"]),
             ("rc-203", "Tofu Scramble", 15, "vegan", 2,
              ["300 g tofu", "turmeric", "spinach", "cherry tomatoes", "nutritional yeast"])],
    "eggs": [("rc-301", "Crème Brûlée", 70, "vegetarian", 6,
              ["6 egg yolks", "500 ml cream", "vanilla pod", "caster sugar"]),
             ("rc-302", "Spanish Tortilla", 40, "vegetarian", 4,
              ["6 eggs", "potatoes", "onion", "olive oil", "salt"]),
             ("rc-303", "Shakshuka", 30, "vegetarian", 3,
              ["5 eggs", "tomatoes", "red pepper", "cumin", "paprika"])],
    "lentils": [("rc-401", "Red Lentil Dal", 35, "vegan", 4,
                 ["250 g red lentils", "coconut milk", "turmeric", "cumin seeds", "garlic"]),
                ("rc-402", "Lentil Shepherd's Pie", 75, "vegetarian", 6,
                 ["green lentils", "potatoes", "carrots", "butter", "thyme"])],
    "salmon": [("rc-501", "Miso Glazed Salmon", 20, "pescatarian", 2,
                ["2 salmon fillets", "white miso", "mirin", "honey", "sesame seeds"]),
               ("rc-502", "Salmon Poke Bowl", 25, "pescatarian", 2,
                ["sushi-grade salmon", "rice", "avocado", "cucumber", "soy sauce"])],
    "corn": [("rc-601", "Jalapeño Cornbread", 45, "vegetarian", 8,
              ["cornmeal", "flour", "jalapeños", "buttermilk", "eggs"]),
             ("rc-602", "Elote Salad", 20, "vegetarian", 4,
              ["4 ears of corn", "cotija cheese", "lime", "chili powder", "cilantro"])],
    "mushrooms": [("rc-701", "Mushroom Risotto", 45, "vegetarian", 4,
                   ["arborio rice", "mixed mushrooms", "parmesan", "white wine", "shallots"]),
                  ("rc-702", "Mushroom Bourguignon", 60, "vegan", 4,
                   ["cremini mushrooms", "red wine", "pearl onions", "carrots", "tomato paste"])],
    "pasta": [("rc-801", "Spaghetti Aglio e Olio", 15, "vegan", 2,
               ["200 g spaghetti", "garlic", "olive oil", "chili flakes", "parsley"]),
              ("rc-802", "Pasta alla Norma", 40, "vegetarian", 4,
               ["rigatoni", "aubergine", "tomatoes", "ricotta salata", "basil"]),
              ("rc-803", "Pâte Brisée Quiche", 65, "vegetarian", 6,
               ["flour", "butter", "eggs", "cream", "gruyère"])],
}
INGREDIENTS = sorted(RECIPES)

WORDS = {
    # word: (part of speech, definition, example, synonyms)
    "serendipity": ("noun", "the luck of finding something good without looking for it",
                    "Meeting her old friend abroad was pure serendipity.",
                    ["chance", "fluke", "luck", "fortune"]),
    "ephemeral": ("adjective", "lasting for a very short time",
                  "The beauty of the cherry blossoms is ephemeral.",
                  ["fleeting", "transient", "brief", "momentary"]),
    "ubiquitous": ("adjective", "present or found everywhere",
                   "Smartphones have become ubiquitous.", ["omnipresent", "pervasive", "universal"]),
    "meticulous": ("adjective", "showing great attention to detail",
                   "She kept meticulous notes of every experiment.",
                   ["careful", "precise", "thorough", "painstaking"]),
    "resilient": ("adjective", "able to recover quickly from difficulties",
                  "The town proved resilient after the flood.", ["tough", "hardy", "buoyant"]),
    "candid": ("adjective", "truthful and straightforward",
               "He gave a candid account of the mistake.", ["frank", "honest", "open", "direct"]),
    "frugal": ("adjective", "careful not to spend much money",
               "They lived a frugal life in the countryside.", ["thrifty", "economical", "sparing"]),
    "lucid": ("adjective", "expressed clearly and easy to understand",
              "The manual gives a lucid explanation.", ["clear", "coherent", "intelligible"]),
    "tenacious": ("adjective", "not giving up easily",
                  "A tenacious reporter kept asking questions.",
                  ["persistent", "determined", "dogged", "stubborn"]),
    "verbose": ("adjective", "using more words than needed",
                "The first draft was too verbose.", ["wordy", "long-winded", "prolix"]),
    "benevolent": ("adjective", "kind and wanting to help others",
                   "A benevolent donor paid for the new library.",
                   ["kind", "generous", "charitable"]),
    "pragmatic": ("adjective", "dealing with things in a practical way",
                  "We took a pragmatic approach to the budget.",
                  ["practical", "realistic", "sensible"]),
    "nostalgia": ("noun", "a sentimental longing for the past",
                  "The old songs filled him with nostalgia.",
                  ["longing", "wistfulness", "reminiscence"]),
    "eloquent": ("adjective", "fluent and persuasive in speaking or writing",
                 "She gave an eloquent speech at the ceremony.",
                 ["articulate", "expressive", "persuasive"]),
    "diligent": ("adjective", "working hard and carefully",
                 "A diligent student reviews every lesson.",
                 ["hard-working", "industrious", "conscientious"]),
    "ambiguous": ("adjective", "open to more than one interpretation",
                  "The instructions were ambiguous.", ["unclear", "vague", "equivocal"]),
    "gregarious": ("adjective", "fond of company; sociable",
                   "Our gregarious neighbour knows everyone.",
                   ["sociable", "outgoing", "convivial"]),
    "laconic": ("adjective", "using very few words",
                "His laconic reply was simply 'no'.", ["terse", "brief", "concise", "curt"]),
    "whimsical": ("adjective", "playfully quaint or fanciful",
                  "The café has a whimsical interior.", ["playful", "quirky", "fanciful"]),
    "zealous": ("adjective", "showing great energy for a cause",
                "A zealous volunteer organised the event.",
                ["passionate", "fervent", "eager", "ardent"]),
    "café": ("noun", "a small restaurant selling light meals and drinks",
             "We met at a café near the station.", ["coffee shop", "bistro", "coffeehouse"]),
    "naïve": ("adjective", "showing a lack of experience or judgement",
              "It was naïve to expect an instant reply.", ["innocent", "credulous", "unworldly"]),
}
WORD_LIST = sorted(WORDS)

LANGS = {"es": "Spanish", "fr": "French", "de": "German", "it": "Italian", "pt": "Portuguese",
         "ja": "Japanese", "zh": "Chinese", "ko": "Korean"}
LANG_CODES = sorted(LANGS)
PHRASES = {
    "good morning": {"es": "buenos días", "fr": "bonjour", "de": "guten Morgen", "it": "buongiorno",
                     "pt": "bom dia", "ja": "おはようございます", "zh": "早上好", "ko": "좋은 아침입니다"},
    "thank you very much": {"es": "muchas gracias", "fr": "merci beaucoup", "de": "vielen Dank",
                            "it": "grazie mille", "pt": "muito obrigado",
                            "ja": "どうもありがとうございます", "zh": "非常感谢", "ko": "정말 감사합니다"},
    "where is the train station?": {"es": "¿dónde está la estación de tren?", "fr": "où est la gare ?",
                                    "de": "Wo ist der Bahnhof?", "it": "dov'è la stazione dei treni?",
                                    "pt": "onde fica a estação de trem?", "ja": "駅はどこですか？",
                                    "zh": "火车站在哪里？", "ko": "기차역이 어디에 있어요?"},
    "the bill, please": {"es": "la cuenta, por favor", "fr": "l'addition, s'il vous plaît",
                         "de": "die Rechnung, bitte", "it": "il conto, per favore",
                         "pt": "a conta, por favor", "ja": "お会計をお願いします", "zh": "请结账",
                         "ko": "계산서 주세요"},
    "how much does this cost?": {"es": "¿cuánto cuesta esto?", "fr": "combien ça coûte ?",
                                 "de": "Wie viel kostet das?", "it": "quanto costa questo?",
                                 "pt": "quanto custa isto?", "ja": "これはいくらですか？",
                                 "zh": "这个多少钱？", "ko": "이거 얼마예요?"},
    "I am allergic to peanuts": {"es": "soy alérgico a los cacahuetes",
                                 "fr": "je suis allergique aux arachides",
                                 "de": "ich bin allergisch gegen Erdnüsse",
                                 "it": "sono allergico alle arachidi", "pt": "sou alérgico a amendoim",
                                 "ja": "私はピーナッツアレルギーです", "zh": "我对花生过敏",
                                 "ko": "저는 땅콩 알레르기가 있어요"},
    "see you tomorrow": {"es": "hasta mañana", "fr": "à demain", "de": "bis morgen", "it": "a domani",
                         "pt": "até amanhã", "ja": "また明日", "zh": "明天见", "ko": "내일 봐요"},
}
PHRASE_LIST = sorted(PHRASES)

COUNTRIES = {"FR": "France", "DE": "Germany", "JP": "Japan", "US": "the United States",
             "BR": "Brazil", "IN": "India", "ES": "Spain", "IT": "Italy"}
HOLIDAYS = {
    # fixed-date holidays only (month-day, English name, local name)
    "FR": [("01-01", "New Year's Day", "Jour de l'an"), ("05-01", "Labour Day", "Fête du Travail"),
           ("05-08", "Victory in Europe Day", "Victoire 1945"), ("07-14", "Bastille Day", "Fête nationale"),
           ("08-15", "Assumption Day", "Assomption"), ("11-01", "All Saints' Day", "Toussaint"),
           ("11-11", "Armistice Day", "Armistice 1918"), ("12-25", "Christmas Day", "Noël")],
    "DE": [("01-01", "New Year's Day", "Neujahr"), ("05-01", "Labour Day", "Tag der Arbeit"),
           ("10-03", "German Unity Day", "Tag der Deutschen Einheit"),
           ("12-25", "Christmas Day", "Erster Weihnachtstag"),
           ("12-26", "St. Stephen's Day", "Zweiter Weihnachtstag")],
    "JP": [("01-01", "New Year's Day", "元日"), ("02-11", "National Foundation Day", "建国記念の日"),
           ("02-23", "Emperor's Birthday", "天皇誕生日"), ("04-29", "Showa Day", "昭和の日"),
           ("05-03", "Constitution Memorial Day", "憲法記念日"), ("05-04", "Greenery Day", "みどりの日"),
           ("05-05", "Children's Day", "こどもの日"), ("08-11", "Mountain Day", "山の日"),
           ("11-03", "Culture Day", "文化の日"), ("11-23", "Labour Thanksgiving Day", "勤労感謝の日")],
    "US": [("01-01", "New Year's Day", "New Year's Day"), ("06-19", "Juneteenth", "Juneteenth"),
           ("07-04", "Independence Day", "Independence Day"), ("11-11", "Veterans Day", "Veterans Day"),
           ("12-25", "Christmas Day", "Christmas Day")],
    "BR": [("01-01", "New Year's Day", "Confraternização Universal"), ("04-21", "Tiradentes", "Tiradentes"),
           ("05-01", "Labour Day", "Dia do Trabalhador"), ("09-07", "Independence Day", "Independência do Brasil"),
           ("10-12", "Our Lady of Aparecida", "Nossa Senhora Aparecida"),
           ("11-02", "All Souls' Day", "Finados"), ("11-15", "Republic Day", "Proclamação da República"),
           ("12-25", "Christmas Day", "Natal")],
    "IN": [("01-26", "Republic Day", "गणतंत्र दिवस"), ("08-15", "Independence Day", "स्वतंत्रता दिवस"),
           ("10-02", "Gandhi Jayanti", "गांधी जयंती"), ("12-25", "Christmas Day", "Christmas")],
    "ES": [("01-01", "New Year's Day", "Año Nuevo"), ("01-06", "Epiphany", "Día de Reyes"),
           ("05-01", "Labour Day", "Día del Trabajador"), ("08-15", "Assumption Day", "Asunción"),
           ("10-12", "National Day", "Fiesta Nacional de España"), ("12-06", "Constitution Day", "Día de la Constitución"),
           ("12-08", "Immaculate Conception", "Inmaculada Concepción"), ("12-25", "Christmas Day", "Navidad")],
    "IT": [("01-01", "New Year's Day", "Capodanno"), ("04-25", "Liberation Day", "Festa della Liberazione"),
           ("06-02", "Republic Day", "Festa della Repubblica"), ("08-15", "Assumption Day", "Ferragosto"),
           ("12-25", "Christmas Day", "Natale"), ("12-26", "St. Stephen's Day", "Santo Stefano")],
}
COUNTRY_CODES = sorted(COUNTRIES)

AIRLINES = {"AU": "Aurora Air", "SK": "Skyline Express", "NL": "Northern Lights Airways",
            "PC": "Pacific Crest", "MR": "Meridian Regional"}
FLIGHTS = {}  # flight number -> (origin city, destination city, departure "HH:MM")
for _i, (_code, _name) in enumerate(sorted(AIRLINES.items())):
    for _j in range(6):
        _o = CITY_NAMES[(_i * 7 + _j * 5) % len(CITY_NAMES)]
        _d = CITY_NAMES[(_i * 11 + _j * 3 + 4) % len(CITY_NAMES)]
        if _o == _d:
            _d = CITY_NAMES[(CITY_NAMES.index(_d) + 1) % len(CITY_NAMES)]
        FLIGHTS["%s%d" % (_code, 100 + _i * 37 + _j * 113)] = (_o, _d, "%02d:%02d" % (6 + (_j * 3 + _i) % 16, (_j * 25 + _i * 10) % 60))
FLIGHT_NUMBERS = sorted(FLIGHTS)
AIRPORTS = {v[5]: k for k, v in CITIES.items()}
AIRPORT_CODES = sorted(AIRPORTS)
FLIGHT_STATUS = ["On time", "Delayed", "Boarding", "Departed", "Landed", "Scheduled"]

# --------------------------------------------------------------------------------------------------
# Tools (instruction format). Short descriptions keep the demo system prompts small.
# --------------------------------------------------------------------------------------------------

TOOLS = [
    {"category": "Weather", "tool_name": "SkyCast Weather", "style": "repr",
     "description": "Weather and air quality for cities.",
     "apis": [
         API("Current Weather", "Temperature, conditions, humidity and wind now.",
             [P("city", "STRING", "City name", "London")],
             [P("units", "STRING", "metric or imperial", "metric")],
             {"city": "str", "temperature": "float", "units": "str", "condition": "str",
              "humidity": "int", "wind_kph": "float"}),
         API("5 Day Forecast", "Daily high/low and conditions.",
             [P("city", "STRING", "City name", "Paris"), P("days", "NUMBER", "1 to 5", 3)], [],
             {"city": "str", "days": [{"date": "str", "high": "float", "low": "float",
                                       "condition": "str", "_list_length": 3}]}),
         API("Air Quality", "Air quality index and main pollutant.",
             [P("city", "STRING", "", "Zürich")], [],
             {"city": "str", "aqi": "int", "category": "str", "dominant_pollutant": "str"}),
     ]},
    {"category": "Finance", "tool_name": "FX Rates Live", "style": "json",
     "description": "Currency conversion and exchange rates.",
     "apis": [
         API("Convert", "Convert an amount between currencies.",
             [P("from", "STRING", "ISO 4217 code", "USD"), P("to", "STRING", "ISO 4217 code", "EUR"),
              P("amount", "NUMBER", "", 100)], [],
             {"from": "str", "to": "str", "amount": "float", "rate": "float", "result": "float",
              "date": "str"}),
         API("Latest Rates", "Latest rates for a base currency.",
             [P("base", "STRING", "ISO 4217 code", "USD")],
             [P("symbols", "STRING", "comma separated codes", "")],
             {"base": "str", "date": "str", "rates": {"EUR": "float", "GBP": "float"}}),
         # Only optional parameters: rapidapi.py drops them (empty properties), see api_to_function.
         API("Supported Currencies", "Supported currency codes.", [],
             [P("include_names", "BOOLEAN", "add currency names", "true")],
             {"currencies": ["str"], "count": "int"}),
     ]},
    {"category": "Finance", "tool_name": "StockQuote", "style": "repr",
     "description": "Stock quotes and company profiles.",
     "apis": [
         # The description mentions the API name: rapidapi.py replaces it by the function name.
         API("Quote", "Quote returns the last price and daily change.",
             [P("symbol", "STRING", "Ticker symbol", "NWTR")], [],
             {"symbol": "str", "price": "float", "change": "float", "change_percent": "float",
              "currency": "str", "market_time": "str"}),
         API("Company Profile", "Sector, headquarters and CEO.",
             [P("symbol", "STRING", "Ticker symbol", "CNSO")], [],
             {"symbol": "str", "name": "str", "sector": "str", "employees": "int",
              "headquarters": "str", "ceo": "str"}),
     ]},
    {"category": "Finance", "tool_name": "Crypto Ticker", "style": "repr",
     "description": "Cryptocurrency prices.",
     "apis": [
         API("Coin Price", "Price and 24h change of a coin.",
             [P("coin", "STRING", "Coin symbol", "BTC")], [P("vs_currency", "STRING", "", "USD")],
             {"coin": "str", "vs_currency": "str", "price": "float", "change_24h": "float"}),
         API("Top Coins", "Largest coins by market cap.",
             [P("limit", "NUMBER", "How many coins", 5)], [],
             {"coins": [{"rank": "int", "coin": "str", "name": "str", "_list_length": 5}]}),
     ]},
    {"category": "Tools", "tool_name": "Unit Converter Pro", "style": "repr",
     "description": "Unit conversions.",
     "apis": [
         API("Convert Length", "Units: mm, cm, m, km, in, ft, yd, mi.",
             [P("value", "NUMBER", "", 1), P("from_unit", "STRING", "", "m"), P("to_unit", "STRING", "", "ft")],
             [], {"value": "float", "from_unit": "str", "to_unit": "str", "result": "float"}),
         API("Convert Weight", "Units: g, kg, oz, lb, st.",
             [P("value", "NUMBER", "", 1), P("from_unit", "STRING", "", "kg"), P("to_unit", "STRING", "", "lb")],
             [], {"value": "float", "from_unit": "str", "to_unit": "str", "result": "float"}),
         API("Convert Temperature", "Between C, F and K.",
             [P("value", "NUMBER", "", 20), P("from", "STRING", "C, F or K", "C"), P("to", "STRING", "C, F or K", "F")],
             [], {"value": "float", "from": "str", "to": "str", "result": "float"}),
     ]},
    {"category": "Tools", "tool_name": "World Clock", "style": "repr",
     # The newline is removed when the task description is built (rapidapi.py), leaving "cities.Standard".
     "description": "Local times of cities.\nStandard UTC offsets.",
     "apis": [
         API("Time In City", "Local time and UTC offset.",
             [P("city", "STRING", "", "Tokyo")], [],
             {"city": "str", "timezone": "str", "local_time": "str", "utc_offset_hours": "float"}),
         API("Time Difference", "Hours between two cities.",
             [P("City A", "STRING", "", "London"), P("City B", "STRING", "", "Sydney")], [],
             {"city_a": "str", "city_b": "str", "difference_hours": "float"}),
     ]},
    {"category": "Food", "tool_name": "Recipe Finder", "style": "repr",
     "description": "Recipes by ingredient.",
     "apis": [
         API("Search Recipes", "Recipes using an ingredient.",
             [P("ingredient", "STRING", "", "chicken")],
             [P("diet", "STRING", "vegetarian, vegan or pescatarian", ""),
              P("max_time", "NUMBER", "max minutes", 60)],
             {"results": [{"id": "str", "title": "str", "minutes": "int", "diet": "str",
                           "_list_length": 2}], "count": "int"}),
         # An apostrophe inside a description that also holds double quotes: Python's repr (used by
         # process_system_message) then keeps single quotes and escapes it as \'.
         API("Recipe Details", "A recipe's ingredients and servings.",
             [P("id", "STRING", "recipe id", "rc-101")], [],
             {"id": "str", "title": "str", "servings": "int", "minutes": "int",
              "ingredients": ["str"], "steps": "int"}),
     ]},
    {"category": "Language", "tool_name": "Open Dictionary", "style": "repr",
     "description": "English definitions and synonyms.",
     "apis": [
         API("Define", "Definition and example.",
             [P("word", "STRING", "", "serendipity")], [P("lang", "STRING", "", "en")],
             {"word": "str", "part_of_speech": "str", "definition": "str", "example": "str"}),
         API("Synonyms", "",
             [P("word", "STRING", "", "happy")], [P("max", "NUMBER", "", 5)],
             {"word": "str", "synonyms": ["str"]}),
     ]},
    {"category": "Language", "tool_name": "Lingo Translate", "style": "json",
     "description": "Translation and language detection.",
     "apis": [
         API("Translate", "Translate text (ISO 639-1 codes).",
             [P("text", "STRING", "", "hello"), P("target-lang", "STRING", "", "es")],
             [P("source", "STRING", "ISO 639-1 code,\nor 'auto'", "auto")],
             {"translated_text": "str", "source_lang": "str", "target_lang": "str"}),
         API("Detect Language", "",
             [P("text", "STRING", "", "bonjour")], [],
             {"language": "str", "name": "str", "confidence": "float"}),
     ]},
    {"category": "Data", "tool_name": "Holiday Calendar", "style": "json",
     "description": "Public holidays by country.",
     "apis": [
         API("Public Holidays", "Holidays of a country in a year.",
             [P("country", "STRING", "ISO 3166 alpha-2", "FR"), P("year", "NUMBER", "", 2024)], [],
             {"country": "str", "year": "int",
              "holidays": [{"date": "str", "name": "str", "local_name": "str", "weekday": "str",
                            "type": "str", "_list_length": 8}]}),
         API("Is Holiday", "Is a date a public holiday?",
             [P("country", "STRING", "ISO 3166 alpha-2", "DE"), P("date", "STRING", "YYYY-MM-DD", "")], [],
             {"country": "str", "date": "str", "is_holiday": "bool", "name": "str"}),
     ]},
    {"category": "Travel", "tool_name": "Flight Status", "style": "repr",
     "description": "Flight status and airport delays.",
     "apis": [
         API("Flight By Number", "Status, route and gate.",
             [P("flightNumber", "STRING", "e.g. AU137", "AU137")], [P("date", "STRING", "YYYY-MM-DD", "")],
             {"flight": "str", "airline": "str", "origin": "str", "destination": "str",
              "scheduled_departure": "str", "status": "str", "gate": "str"}),
         API("Airport Delays", "Average delay at an airport.",
             [P("airport", "STRING", "the airport's IATA code", "LHR")], [],
             {"airport": "str", "city": "str", "average_delay_min": "int", "status": "str"}),
     ]},
    {"category": "Travel", "tool_name": "Distance Calculator", "style": "repr",
     "description": "Distances and travel times.",
     "apis": [
         API("City Distance", "Distance between two cities.",
             [P("from", "STRING", "", "Paris"), P("to", "STRING", "", "Rome")],
             [P("unit", "STRING", "km or mi", "km")],
             {"from": "str", "to": "str", "distance": "float", "unit": "str"}),
         API("Travel Time Estimate", "Hours by driving, train or flying.",
             [P("from", "STRING", "", "Paris"), P("to", "STRING", "", "Rome"),
              P("mode", "STRING", "driving, train or flying", "train")], [],
             {"from": "str", "to": "str", "mode": "str", "hours": "float"}),
     ]},
]

TOOL_BY_NAME = {t["tool_name"]: t for t in TOOLS}
for _t in TOOLS:
    _t["std"] = standardize(_t["tool_name"])
    for _a in _t["apis"]:
        _a["fn"] = (change_name(standardize(_a["name"])) + "_for_" + _t["std"])[-64:]
        _a["tool"] = _t["tool_name"]


def api_entry(tool, api):
    """api_list entry in the instruction format (README section 2, plus StableToolBench's template_response)."""
    return {"category_name": tool["category"], "tool_name": tool["tool_name"], "api_name": api["name"],
            "api_description": api["description"], "required_parameters": api["required"],
            "optional_parameters": api["optional"], "method": "GET",
            "template_response": api["template_response"]}


def toolenv_json(tool):
    """toolenv/tools/<Category>/<standard_tool_name>.json (README section 3)."""
    return {"tool_description": tool["description"], "tool_name": tool["tool_name"],
            "title": tool["tool_name"],
            "api_list": [{"name": a["name"],
                          "url": "https://%s.demo.invalid/%s" % (tool["std"].replace("_", "-"),
                                                                  standardize(a["name"])),
                          "description": a["description"], "method": "GET",
                          "required_parameters": a["required"], "optional_parameters": a["optional"]}
                         for a in tool["apis"]],
            "standardized_name": tool["std"]}


def find_api(tool_name, api_name):
    tool = TOOL_BY_NAME[tool_name]
    for a in tool["apis"]:
        if a["name"] == api_name:
            return tool, a
    raise KeyError((tool_name, api_name))


def encode_response(tool, obj):
    """The 'response' string: Python repr for some tools, compact JSON text for others (both occur in ToolBench)."""
    if tool["style"] == "repr":
        return str(obj)  # non-ASCII stays raw here; the outer json.dumps escapes it once (\u00e9)
    return json.dumps(obj, separators=(",", ":"))  # ASCII-escaped JSON text: escaped twice in the content


def observation(error, response):
    """A function message's content: json.dumps of {"error", "response"} (ASCII escapes), truncated like the env."""
    return truncate_observation(json.dumps({"error": error, "response": response}))


def fmt_num(x):
    """Human formatting for final answers: 1234.5 -> '1,234.50', 12 -> '12'."""
    if isinstance(x, int) or float(x).is_integer():
        return "{:,}".format(int(x))
    return "{:,.2f}".format(x)


def haversine_km(a, b):
    la1, lo1 = math.radians(CITIES[a][2]), math.radians(CITIES[a][3])
    la2, lo2 = math.radians(CITIES[b][2]), math.radians(CITIES[b][3])
    d = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(d))


def date_str(d):
    return d.strftime("%Y-%m-%d")


BASE_DATE = datetime.date(2024, 5, 1)
