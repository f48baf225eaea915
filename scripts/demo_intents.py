"""Intents of the demo dataset: how a request is phrased, which calls answer it, and the final answer.

An intent instance is a dict:
  phrase   one sentence of the user query
  calls    list of call dicts {tool, api, args (dict, standardized parameter names, schema order),
           response (object), purpose (for thoughts), bad (optional: wrong args + error response + hint)}
  answer   one sentence (or a few lines) of the final answer, built from the responses
All values come from the arguments through demo_world's stable hashes, so responses are deterministic.
"""

import datetime
import json

from demo_world import (AIRLINES, AIRPORTS, AIRPORT_CODES, CITIES, CITY_NAMES, COINS, COIN_CODES,
                        CONDITIONS, COUNTRIES, COUNTRY_CODES, FLIGHTS, FLIGHT_NUMBERS, FLIGHT_STATUS,
                        FX, FX_CODES, FX_NAMES, HOLIDAYS, LANGS, LANG_CODES, LENGTH, LENGTH_WORDS,
                        PHRASES, PHRASE_LIST, RECIPES, INGREDIENTS, STOCKS, STOCK_SYMBOLS, CEOS,
                        TEMP_WORDS, WEIGHT, WEIGHT_WORDS, WORDS, WORD_LIST, date_str, fmt_num,
                        haversine_km, h, hf, encode_response, find_api, observation)


def call(tool, api, args, response, purpose, bad=None):
    return {"tool": tool, "api": api, "args": args, "response": response, "purpose": purpose, "bad": bad}


def pick(rng, seq):
    return seq[rng.randrange(len(seq))]


# ---------------------------------------------------------------------------------------------- weather

def weather_response(city, units, day):
    c = CITIES[city][4] + hf(-6, 8, "temp", city, day)
    t = round(c * 9 / 5 + 32, 1) if units == "imperial" else round(c, 1)
    cond = CONDITIONS[h("cond", city, day) % len(CONDITIONS)]
    return {"city": city, "temperature": t, "units": units, "condition": cond,
            "humidity": 35 + h("hum", city, day) % 55, "wind_kph": hf(2, 35, "wind", city, day)}


def weather_sentence(r):
    deg = "°F" if r["units"] == "imperial" else "°C"
    return "It is currently %s%s and %s in %s, with %d%% humidity and wind at %s km/h." % (
        r["temperature"], deg, r["condition"], r["city"], r["humidity"], r["wind_kph"])


def weather_now(rng, ctx, city=None):
    city = city or pick(rng, CITY_NAMES)
    mode = rng.random()
    units = "imperial" if mode < 0.2 else "metric"
    if mode < 0.2:
        phrase = pick(rng, ["What's the current weather in %s in Fahrenheit?",
                            "Give me the current temperature in %s in imperial units.",
                            "How hot is it in %s right now, in °F?"]) % city
        args = {"city": city, "units": "imperial"}
        bad = {"args": {"city": city, "units": "fahrenheit"},
               "response": {"message": "Invalid units 'fahrenheit'. Use 'metric' or 'imperial'."},
               "hint": "the units must be 'metric' or 'imperial'"}
    elif mode < 0.3:
        phrase = pick(rng, ["What's the temperature in %s in Celsius right now?",
                            "Check the current weather in %s (metric units, please)."]) % city
        args = {"city": city, "units": "metric"}
        bad = {"args": {"city": city, "units": "celsius"},
               "response": {"message": "Invalid units 'celsius'. Use 'metric' or 'imperial'."},
               "hint": "the units must be 'metric' or 'imperial'"}
    else:
        phrase = pick(rng, ["What's the weather like in %s right now?",
                            "Can you check the current weather in %s?",
                            "Tell me the current temperature and conditions in %s.",
                            "How warm is it in %s at the moment?",
                            "Is it raining in %s right now?"]) % city
        args = {"city": city}
        bad = None
    r = weather_response(city, units, ctx["day"])
    tool, api = find_api("SkyCast Weather", "Current Weather")
    return {"phrase": phrase, "answer": weather_sentence(r), "context_city": city,
            "calls": [call(tool, api, args, r, "the current weather in %s" % city, bad)]}


def forecast(rng, ctx):
    city = pick(rng, CITY_NAMES)
    days = rng.randint(2, 5)
    phrase = pick(rng, ["What's the forecast for %s for the next %d days?",
                        "Give me a %d-day weather forecast for %s.",
                        "Will it rain in %s over the next %d days?"])
    phrase = phrase % ((days, city) if phrase.startswith("Give") else (city, days))
    out = []
    for k in range(days):
        d = ctx["day"] + datetime.timedelta(days=k)
        base = CITIES[city][4] + hf(-5, 7, "fc", city, date_str(d))
        out.append({"date": date_str(d), "high": round(base + 4, 1), "low": round(base - 4, 1),
                    "condition": CONDITIONS[h("fcc", city, date_str(d)) % len(CONDITIONS)]})
    r = {"city": city, "days": out}
    ans = "Forecast for %s: " % city + "; ".join(
        "%s %s, %s to %s°C" % (x["date"], x["condition"], x["low"], x["high"]) for x in out) + "."
    tool, api = find_api("SkyCast Weather", "5 Day Forecast")
    return {"phrase": phrase, "answer": ans, "context_city": city,
            "calls": [call(tool, api, {"city": city, "days": days}, r,
                           "the %d-day forecast for %s" % (days, city))]}


def air_quality(rng, ctx):
    city = pick(rng, CITY_NAMES)
    aqi = 15 + h("aqi", city, ctx["day"]) % 150
    cat = "Good" if aqi <= 50 else "Moderate" if aqi <= 100 else "Unhealthy for Sensitive Groups"
    pol = ["pm2.5", "pm10", "o3", "no2"][h("pol", city) % 4]
    r = {"city": city, "aqi": aqi, "category": cat, "dominant_pollutant": pol}
    phrase = pick(rng, ["How is the air quality in %s today?", "Check the AQI in %s.",
                        "Is the air clean enough for a run in %s today?"]) % city
    tool, api = find_api("SkyCast Weather", "Air Quality")
    return {"phrase": phrase, "context_city": city,
            "answer": "The air quality index in %s is %d (%s); the main pollutant is %s." % (city, aqi, cat, pol),
            "calls": [call(tool, api, {"city": city}, r, "the air quality in %s" % city)]}


# ---------------------------------------------------------------------------------------------- finance

AMOUNTS = [20, 50, 75, 100, 120, 250, 300, 480, 500, 750, 1000, 1500, 2000, 5000, 49.99, 12.5]


def fx_rate(a, b, day):
    return round(FX[b] / FX[a] * (1 + hf(-0.01, 0.01, "fx", a, b, day, nd=5)), 4 if FX[b] / FX[a] > 0.1 else 6)


def fx_convert(rng, ctx):
    a, b = rng.sample(FX_CODES, 2)
    amount = pick(rng, AMOUNTS)
    am = fmt_num(amount).replace(",", "")
    phrase = pick(rng, ["How much is %s %s in %s?" % (am, a, b),
                        "Convert %s %s to %s." % (am, FX_NAMES[a], FX_NAMES[b]),
                        "I have %s %s; what is that in %s?" % (am, a, FX_NAMES[b]),
                        "What would %s %s be worth in %s?" % (am, a, b)])
    rate = fx_rate(a, b, ctx["day"])
    r = {"from": a, "to": b, "amount": amount, "rate": rate, "result": round(amount * rate, 2),
         "date": ctx["date"]}
    tool, api = find_api("FX Rates Live", "Convert")
    bad = {"args": {"is_from": a, "to": FX_NAMES[b], "amount": amount},
           "response": {"message": "Unknown currency '%s'. Use a 3-letter ISO 4217 code." % FX_NAMES[b]},
           "hint": "3-letter ISO 4217 currency codes such as %s" % b}
    return {"phrase": phrase,
            "answer": "%s %s is about %s %s (rate %s on %s)." % (am, a, fmt_num(r["result"]), b, rate, ctx["date"]),
            "calls": [call(tool, api, {"is_from": a, "to": b, "amount": amount}, r,
                           "the conversion of %s %s to %s" % (am, a, b), bad)]}


def fx_latest(rng, ctx):
    base = pick(rng, FX_CODES)
    others = [c for c in FX_CODES if c != base]
    if rng.random() < 0.5:
        syms = rng.sample(others, rng.randint(2, 3))
        phrase = pick(rng, ["Show me the latest %s rates against %s." % (base, " and ".join(syms)),
                            "What are the current exchange rates from %s to %s?" % (base, ", ".join(syms))])
        args = {"base": base, "symbols": ",".join(syms)}
    else:
        syms = [c for c in ["EUR", "USD", "GBP", "JPY", "CHF"] if c != base][:4]
        phrase = pick(rng, ["What are today's exchange rates for the %s?" % FX_NAMES[base].rstrip("s"),
                            "Give me the latest exchange rates with %s as the base currency." % base])
        args = {"base": base}
    rates = {c: fx_rate(base, c, ctx["day"]) for c in syms}
    r = {"base": base, "date": ctx["date"], "rates": rates}
    tool, api = find_api("FX Rates Live", "Latest Rates")
    return {"phrase": phrase,
            "answer": "Latest rates for 1 %s (%s): %s." % (base, ctx["date"], ", ".join("%s %s" % kv for kv in rates.items())),
            "calls": [call(tool, api, args, r, "the latest %s exchange rates" % base)]}


def fx_supported(rng, ctx):
    phrase = pick(rng, ["Which currencies can the converter handle?",
                        "List the currencies supported by the currency converter.",
                        "What currency codes are supported for conversion?"])
    r = {"currencies": FX_CODES, "count": len(FX_CODES)}
    tool, api = find_api("FX Rates Live", "Supported Currencies")
    # The function has no properties (optional-only API, see toolbench_format.api_to_function): args {}.
    return {"phrase": phrase,
            "answer": "The converter supports %d currencies: %s." % (len(FX_CODES), ", ".join(FX_CODES)),
            "calls": [call(tool, api, {}, r, "the list of supported currencies")]}


def stock_price(sym, day):
    return round(STOCKS[sym][4] * (1 + hf(-0.08, 0.08, "px", sym, day, nd=4)), 2)


def stock_quote(rng, ctx, sym=None):
    sym = sym or pick(rng, STOCK_SYMBOLS)
    name = STOCKS[sym][0]
    phrase = pick(rng, ["What's the current stock price of %s (%s)?" % (name, sym),
                        "Get me a quote for %s." % sym, "How is %s trading today?" % sym,
                        "What is %s's share price right now (ticker %s)?" % (name, sym)])
    price = stock_price(sym, ctx["day"])
    prev = round(STOCKS[sym][4] * (1 + hf(-0.08, 0.08, "prev", sym, ctx["day"], nd=4)), 2)
    change = round(price - prev, 2)
    pct = round(100 * change / prev, 2)
    r = {"symbol": sym, "price": price, "change": change, "change_percent": pct, "currency": "USD",
         "market_time": ctx["date"] + " 16:00 ET"}
    tool, api = find_api("StockQuote", "Quote")
    ans = "%s (%s) is trading at $%s, %s $%s (%s%%) today." % (
        sym, name, fmt_num(price), "up" if change >= 0 else "down", fmt_num(abs(change)), abs(pct))
    return {"phrase": phrase, "answer": ans,
            "calls": [call(tool, api, {"symbol": sym}, r, "the latest quote for %s" % sym)]}


def company_profile(rng, ctx):
    sym = pick(rng, STOCK_SYMBOLS)
    name, sector, hq, emp, _ = STOCKS[sym]
    ceo = CEOS[h("ceo", sym) % len(CEOS)]
    phrase = pick(rng, ["Tell me about the company behind the ticker %s." % sym,
                        "Who is the CEO of %s (%s), and where is it based?" % (name, sym),
                        "Give me the company profile for %s." % sym])
    r = {"symbol": sym, "name": name, "sector": sector, "employees": emp, "headquarters": hq, "ceo": ceo}
    tool, api = find_api("StockQuote", "Company Profile")
    return {"phrase": phrase,
            "answer": "%s (%s) is a %s company headquartered in %s with about %s employees; its CEO is %s." % (
                name, sym, sector.lower(), hq, fmt_num(emp), ceo),
            "calls": [call(tool, api, {"symbol": sym}, r, "the company profile of %s" % sym)]}


def coin_price(rng, ctx):
    coin = pick(rng, COIN_CODES)
    vs = pick(rng, [None, None, "EUR", "GBP", "JPY"])
    cname = COINS[coin][0]
    if vs is None:
        phrase = pick(rng, ["What's the price of %s right now?" % cname,
                            "How much is one %s worth today?" % coin])
        args = {"coin": coin}
    else:
        phrase = pick(rng, ["How much is one %s in %s?" % (coin, vs),
                            "Check the current %s price in %s." % (cname, FX_NAMES[vs])])
        args = {"coin": coin, "vs_currency": vs}
    v = vs or "USD"
    usd = COINS[coin][1] * (1 + hf(-0.1, 0.1, "coin", coin, ctx["day"], nd=4))
    price = round(usd * FX[v], 2 if usd * FX[v] >= 1 else 4)
    ch = hf(-7, 7, "coin24", coin, ctx["day"], nd=2)
    r = {"coin": coin, "vs_currency": v, "price": price, "change_24h": ch}
    tool, api = find_api("Crypto Ticker", "Coin Price")
    return {"phrase": phrase,
            "answer": "1 %s (%s) is worth %s %s (%+.2f%% in 24 hours)." % (coin, cname, fmt_num(price), v, ch),
            "calls": [call(tool, api, args, r, "the current price of %s" % coin)]}


TOP_ORDER = ["BTC", "ETH", "XRP", "SOL", "ADA", "DOGE", "DOT", "LTC"]


def top_coins(rng, ctx):
    n = rng.randint(3, 6)
    phrase = pick(rng, ["List the top %d cryptocurrencies by market cap." % n,
                        "Which are the %d biggest coins right now?" % n])
    coins = [{"rank": i + 1, "coin": c, "name": COINS[c][0]} for i, c in enumerate(TOP_ORDER[:n])]
    tool, api = find_api("Crypto Ticker", "Top Coins")
    return {"phrase": phrase,
            "answer": "The top %d coins by market cap are: %s." % (
                n, ", ".join("%d. %s (%s)" % (x["rank"], x["name"], x["coin"]) for x in coins)),
            "calls": [call(tool, api, {"limit": n}, {"coins": coins}, "the top %d coins" % n)]}


# ---------------------------------------------------------------------------------------------- tools

LENGTH_VALUES = [1, 2, 3, 5, 10, 12, 26.2, 42, 100, 250, 1000, 1.5, 0.5, 6]


def _convert(rng, ctx, table, words, api_name, values):
    a, b = rng.sample(sorted(table), 2)
    v = pick(rng, values)
    vs = fmt_num(v).replace(",", "")
    res = round(v * table[a] / table[b], 4)
    phrase = pick(rng, ["Convert %s %s to %s." % (vs, words[a], words[b]),
                        "How many %s are in %s %s?" % (words[b], vs, words[a]),
                        "What is %s %s in %s?" % (vs, words[a], words[b])])
    r = {"value": v, "from_unit": a, "to_unit": b, "result": res}
    tool, api = find_api("Unit Converter Pro", api_name)
    bad = {"args": {"value": v, "from_unit": words[a], "to_unit": b},
           "response": {"error": "unknown unit '%s'" % words[a], "supported": sorted(table)},
           "hint": "unit symbols like '%s'" % a}
    return {"phrase": phrase, "answer": "%s %s is %s %s." % (vs, words[a], fmt_num(res), words[b]),
            "calls": [call(tool, api, {"value": v, "from_unit": a, "to_unit": b}, r,
                           "%s %s in %s" % (vs, words[a], words[b]), bad)]}


def convert_length(rng, ctx):
    return _convert(rng, ctx, LENGTH, LENGTH_WORDS, "Convert Length", LENGTH_VALUES)


def convert_weight(rng, ctx):
    return _convert(rng, ctx, WEIGHT, WEIGHT_WORDS, "Convert Weight", [1, 2, 5, 10, 70, 150, 500, 0.25, 3.5, 12])


def convert_temperature(rng, ctx):
    a, b = rng.sample(["C", "F", "K"], 2)
    v = pick(rng, {"C": [-10, 0, 18, 21, 25, 37, 100], "F": [0, 32, 50, 72, 98.6, 212],
                   "K": [0, 273.15, 300, 310]}[a])
    c = v if a == "C" else (v - 32) * 5 / 9 if a == "F" else v - 273.15
    res = round(c if b == "C" else c * 9 / 5 + 32 if b == "F" else c + 273.15, 2)
    vs = fmt_num(v).replace(",", "")
    phrase = pick(rng, ["What is %s %s in %s?" % (vs, TEMP_WORDS[a], TEMP_WORDS[b]),
                        "Convert %s %s to %s." % (vs, a if a == "K" else "°" + a, TEMP_WORDS[b])])
    r = {"value": v, "from": a, "to": b, "result": res}
    tool, api = find_api("Unit Converter Pro", "Convert Temperature")
    return {"phrase": phrase, "answer": "%s %s is %s %s." % (vs, TEMP_WORDS[a], fmt_num(res), TEMP_WORDS[b]),
            "calls": [call(tool, api, {"value": v, "is_from": a, "to": b}, r,
                           "%s %s in %s" % (vs, TEMP_WORDS[a], TEMP_WORDS[b]))]}


def tz_name(off):
    sign = "+" if off >= 0 else "-"
    hh = int(abs(off))
    mm = int(round((abs(off) - hh) * 60))
    return "UTC%s%02d:%02d" % (sign, hh, mm)


def time_in_city(rng, ctx, city=None):
    city = city or pick(rng, CITY_NAMES)
    off = CITIES[city][1]
    local = ctx["utc"] + datetime.timedelta(hours=off)
    r = {"city": city, "timezone": tz_name(off), "local_time": local.strftime("%Y-%m-%d %H:%M"),
         "utc_offset_hours": off}
    phrase = pick(rng, ["What time is it in %s right now?", "Tell me the current local time in %s.",
                        "What's the local time in %s?"]) % city
    tool, api = find_api("World Clock", "Time In City")
    return {"phrase": phrase, "context_city": city,
            "answer": "It is %s on %s in %s (%s)." % (local.strftime("%H:%M"), local.strftime("%Y-%m-%d"), city, tz_name(off)),
            "calls": [call(tool, api, {"city": city}, r, "the local time in %s" % city)]}


def time_difference(rng, ctx):
    a, b = rng.sample(CITY_NAMES, 2)
    d = CITIES[a][1] - CITIES[b][1]
    phrase = pick(rng, ["What's the time difference between %s and %s?" % (a, b),
                        "How many hours ahead of %s is %s?" % (b, a)])
    r = {"city_a": a, "city_b": b, "difference_hours": d}
    if d == 0:
        ans = "%s and %s are on the same time." % (a, b)
    else:
        ans = "%s is %s hours %s %s." % (a, fmt_num(abs(d)), "ahead of" if d > 0 else "behind", b)
    tool, api = find_api("World Clock", "Time Difference")
    return {"phrase": phrase, "answer": ans,
            "calls": [call(tool, api, {"city_a": a, "city_b": b}, r,
                           "the time difference between %s and %s" % (a, b))]}


# ---------------------------------------------------------------------------------------------- food

def _search(ingredient, diet=None, max_time=None):
    res = [x for x in RECIPES[ingredient] if (diet is None or x[3] == diet) and (max_time is None or x[2] <= max_time)]
    return {"results": [{"id": x[0], "title": x[1], "minutes": x[2], "diet": x[3]} for x in res],
            "count": len(res)}


def recipe_search(rng, ctx):
    ing = pick(rng, INGREDIENTS)
    mode = rng.random()
    args = {"ingredient": ing}
    diet = max_time = None
    diets = sorted({x[3] for x in RECIPES[ing] if x[3] != "none"})
    if mode < 0.3 and diets:
        diet = pick(rng, diets)
        phrase = "Search for %s recipes that use %s." % (diet, ing)
        args["diet"] = diet
    elif mode < 0.55:
        max_time = pick(rng, sorted({((x[2] + 9) // 10) * 10 for x in RECIPES[ing]}))
        phrase = pick(rng, ["I need a recipe with %s that takes at most %d minutes." % (ing, max_time),
                            "Find dishes with %s that I can cook in %d minutes or less." % (ing, max_time)])
        args["max_time"] = max_time
    else:
        phrase = pick(rng, ["Find me some recipes with %s." % ing, "What can I cook with %s?" % ing])
    r = _search(ing, diet, max_time)
    ans = "I found %d recipe%s with %s: %s." % (r["count"], "" if r["count"] == 1 else "s", ing,
                                               ", ".join("%s (%d min)" % (x["title"], x["minutes"]) for x in r["results"]))
    tool, api = find_api("Recipe Finder", "Search Recipes")
    return {"phrase": phrase, "answer": ans,
            "calls": [call(tool, api, args, r, "recipes with %s" % ing)]}


def recipe_full(rng, ctx):
    ing = pick(rng, INGREDIENTS)
    phrase = pick(rng, ["Find a recipe with %s and give me its full ingredient list." % ing,
                        "Pick a %s recipe and tell me what I need to buy for it." % ing,
                        "Suggest a dish with %s and list its ingredients." % ing])
    r1 = _search(ing)
    first = r1["results"][0]
    x = [y for y in RECIPES[ing] if y[0] == first["id"]][0]
    r2 = {"id": x[0], "title": x[1], "servings": x[4], "minutes": x[2], "ingredients": x[5],
          "steps": 4 + h("steps", x[0]) % 5}
    t1, a1 = find_api("Recipe Finder", "Search Recipes")
    t2, a2 = find_api("Recipe Finder", "Recipe Details")
    return {"phrase": phrase,
            "answer": "%s (serves %d, %d minutes) needs: %s." % (x[1], x[4], x[2], ", ".join(x[5])),
            "calls": [call(t1, a1, {"ingredient": ing}, r1, "recipes with %s" % ing),
                      call(t2, a2, {"is_id": x[0]}, r2, "the details of recipe %s" % x[0])]}


# ---------------------------------------------------------------------------------------------- language

def define(rng, ctx):
    w = pick(rng, WORD_LIST)
    pos, d, ex, _ = WORDS[w]
    phrase = pick(rng, ["What does '%s' mean?", "Define the word %s.",
                        "Give me the definition of '%s' with an example."]) % w
    r = {"word": w, "part_of_speech": pos, "definition": d, "example": ex}
    tool, api = find_api("Open Dictionary", "Define")
    return {"phrase": phrase, "answer": "'%s' (%s) means %s. Example: %s" % (w, pos, d, ex),
            "calls": [call(tool, api, {"word": w}, r, "the definition of '%s'" % w)]}


def synonyms(rng, ctx):
    w = pick(rng, WORD_LIST)
    syn = WORDS[w][3]
    if rng.random() < 0.4:
        n = rng.randint(2, len(syn))
        phrase = "Give me %d synonyms for '%s'." % (n, w)
        args = {"word": w, "max": n}
        syn = syn[:n]
    else:
        phrase = pick(rng, ["What are some synonyms for '%s'?", "Find other words for %s."]) % w
        args = {"word": w}
    tool, api = find_api("Open Dictionary", "Synonyms")
    return {"phrase": phrase, "answer": "Synonyms for '%s': %s." % (w, ", ".join(syn)),
            "calls": [call(tool, api, args, {"word": w, "synonyms": syn}, "synonyms of '%s'" % w)]}


def translate(rng, ctx):
    p = pick(rng, PHRASE_LIST)
    code = pick(rng, LANG_CODES)
    lang = LANGS[code]
    phrase = pick(rng, ["How do you say '%s' in %s?" % (p, lang), "Translate '%s' into %s." % (p, lang),
                        "What's the %s for '%s'?" % (lang, p)])
    r = {"translated_text": PHRASES[p][code], "source_lang": "en", "target_lang": code}
    tool, api = find_api("Lingo Translate", "Translate")
    bad = {"args": {"text": p, "target_lang": lang},
           "response": {"message": "target_lang must be an ISO 639-1 code such as '%s'" % code},
           "hint": "an ISO 639-1 language code ('%s')" % code}
    return {"phrase": phrase, "answer": "In %s, '%s' is '%s'." % (lang, p, PHRASES[p][code]),
            "calls": [call(tool, api, {"text": p, "target_lang": code}, r,
                           "the %s translation of '%s'" % (lang, p), bad)]}


def detect_language(rng, ctx):
    p = pick(rng, PHRASE_LIST)
    code = pick(rng, LANG_CODES)
    text = PHRASES[p][code]
    conf = hf(0.86, 0.995, "conf", text, nd=3)
    phrase = pick(rng, ["Which language is '%s'?" % text, "Detect the language of '%s'." % text,
                        "Someone wrote '%s' to me. What language is that?" % text])
    r = {"language": code, "name": LANGS[code], "confidence": conf}
    tool, api = find_api("Lingo Translate", "Detect Language")
    return {"phrase": phrase, "answer": "'%s' is %s (confidence %s)." % (text, LANGS[code], conf),
            "calls": [call(tool, api, {"text": text}, r, "the language of '%s'" % text)]}


# ---------------------------------------------------------------------------------------------- data

def public_holidays(rng, ctx):
    cc = pick(rng, COUNTRY_CODES)
    year = pick(rng, [2024, 2025])
    phrase = pick(rng, ["List the public holidays in %s for %d." % (COUNTRIES[cc], year),
                        "Which public holidays does %s have in %d?" % (COUNTRIES[cc], year),
                        "I need the %d public holiday calendar for %s." % (year, COUNTRIES[cc])])
    hol = []
    for md, n, ln in HOLIDAYS[cc]:
        d = datetime.date(year, int(md[:2]), int(md[3:]))
        hol.append({"date": date_str(d), "name": n, "local_name": ln, "weekday": d.strftime("%A"),
                    "type": "public"})
    r = {"country": cc, "year": year, "holidays": hol}
    tool, api = find_api("Holiday Calendar", "Public Holidays")
    c = call(tool, api, {"country": cc, "year": year}, r, "the %d public holidays of %s" % (year, COUNTRIES[cc]))
    # The environment cuts long observations at 1024 chars: the answer can only use what is visible.
    obs = observation("", encode_response(tool, r))
    seen = [x for x in hol if json.dumps(encode_response(tool, x))[1:-1] in obs]
    if len(seen) == len(hol):
        ans = "%s has %d fixed-date public holidays in %d: %s." % (
            COUNTRIES[cc][0].upper() + COUNTRIES[cc][1:], len(hol), year,
            ", ".join("%s (%s)" % (x["name"], x["date"][5:]) for x in hol))
    else:
        ans = "The holiday list for %s in %d was cut off; the first ones are: %s." % (
            COUNTRIES[cc], year, ", ".join("%s (%s)" % (x["name"], x["date"][5:]) for x in seen))
    return {"phrase": phrase, "answer": ans, "calls": [c]}


def is_holiday(rng, ctx):
    cc = pick(rng, COUNTRY_CODES)
    year = pick(rng, [2024, 2025])
    if rng.random() < 0.5:
        md, name, _ = pick(rng, HOLIDAYS[cc])
    else:
        md, name = "%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28)), ""
        for x in HOLIDAYS[cc]:
            if x[0] == md:
                name = x[1]
    d = "%d-%s" % (year, md)
    human = datetime.date(year, int(md[:2]), int(md[3:])).strftime("%B %d, %Y").replace(" 0", " ")
    phrase = pick(rng, ["Is %s a public holiday in %s?" % (human, COUNTRIES[cc]),
                        "Are offices in %s closed for a holiday on %s?" % (COUNTRIES[cc], d)])
    r = {"country": cc, "date": d, "is_holiday": bool(name), "name": name}
    tool, api = find_api("Holiday Calendar", "Is Holiday")
    ans = ("Yes, %s is a public holiday in %s: %s." % (d, COUNTRIES[cc], name) if name else
           "No, %s is not a public holiday in %s." % (d, COUNTRIES[cc]))
    bad = {"args": {"country": COUNTRIES[cc].replace("the ", ""), "date": d},
           "response": {"message": "country must be an ISO 3166 alpha-2 code such as '%s'" % cc},
           "hint": "a two-letter country code ('%s')" % cc}
    return {"phrase": phrase, "answer": ans,
            "calls": [call(tool, api, {"country": cc, "date": d}, r, "whether %s is a holiday in %s" % (d, cc), bad)]}


# ---------------------------------------------------------------------------------------------- travel

def flight_response(fn, ctx):
    o, d, dep = FLIGHTS[fn]
    st = FLIGHT_STATUS[h("fst", fn, ctx["day"]) % len(FLIGHT_STATUS)]
    if st == "Delayed":
        st = "Delayed %d min" % (10 + h("dl", fn, ctx["day"]) % 80)
    return {"flight": fn, "airline": AIRLINES[fn[:2]], "origin": "%s (%s)" % (o, CITIES[o][5]),
            "destination": "%s (%s)" % (d, CITIES[d][5]), "scheduled_departure": ctx["date"] + " " + dep,
            "status": st, "gate": "%s%d" % ("ABCDE"[h("gate", fn) % 5], 1 + h("gn", fn) % 40)}


def flight_sentence(r):
    return "Flight %s (%s) from %s to %s is %s, scheduled to leave at %s from gate %s." % (
        r["flight"], r["airline"], r["origin"], r["destination"], r["status"].lower() if r["status"] != "On time" else "on time",
        r["scheduled_departure"][11:], r["gate"])


def flight_status(rng, ctx):
    fn = pick(rng, FLIGHT_NUMBERS)
    spaced = fn[:2] + " " + fn[2:]
    use_date = rng.random() < 0.3
    if use_date:
        phrase = pick(rng, ["What's the status of flight %s today (%s)?" % (fn, ctx["date"]),
                            "Is flight %s on %s on time?" % (fn, ctx["date"])])
        args = {"flightnumber": fn, "date": ctx["date"]}
    else:
        phrase = pick(rng, ["What's the status of flight %s?" % fn, "Is flight %s on time?" % spaced,
                            "Where does flight %s go, and when does it leave?" % fn])
        args = {"flightnumber": fn}
    r = flight_response(fn, ctx)
    tool, api = find_api("Flight Status", "Flight By Number")
    bad = dict(args)
    bad["flightnumber"] = spaced
    bad = {"args": bad, "response": {"message": "Invalid flight number '%s'. Use the format %s." % (spaced, fn)},
           "hint": "the flight number without a space (%s)" % fn}
    return {"phrase": phrase, "answer": flight_sentence(r),
            "calls": [call(tool, api, args, r, "the status of flight %s" % fn, bad)]}


def flight_then_weather(rng, ctx):
    fn = pick(rng, FLIGHT_NUMBERS)
    r1 = flight_response(fn, ctx)
    dest = FLIGHTS[fn][1]
    phrase = pick(rng, ["What's the weather like at the destination of flight %s?" % fn,
                        "I'm on flight %s later. What's the weather where it lands?" % fn,
                        "Check flight %s and tell me the current weather at its destination." % fn])
    r2 = weather_response(dest, "metric", ctx["day"])
    t1, a1 = find_api("Flight Status", "Flight By Number")
    t2, a2 = find_api("SkyCast Weather", "Current Weather")
    return {"phrase": phrase, "answer": flight_sentence(r1) + " " + weather_sentence(r2),
            "calls": [call(t1, a1, {"flightnumber": fn}, r1, "the route of flight %s" % fn),
                      call(t2, a2, {"city": dest}, r2, "the current weather in %s" % dest)]}


def airport_delays(rng, ctx):
    ap = pick(rng, AIRPORT_CODES)
    city = AIRPORTS[ap]
    dl = h("apd", ap, ctx["day"]) % 55
    st = "normal" if dl < 15 else "minor delays" if dl < 35 else "significant delays"
    phrase = pick(rng, ["Are there delays at %s airport right now?" % ap,
                        "How long are departure delays at %s's airport (%s)?" % (city, ap)])
    r = {"airport": ap, "city": city, "average_delay_min": dl, "status": st}
    tool, api = find_api("Flight Status", "Airport Delays")
    return {"phrase": phrase, "context_city": city,
            "answer": "Departures at %s (%s) have %s, averaging %d minutes." % (ap, city, st, dl),
            "calls": [call(tool, api, {"airport": ap}, r, "the delays at %s" % ap)]}


def city_distance(rng, ctx):
    a, b = rng.sample(CITY_NAMES, 2)
    unit = "mi" if rng.random() < 0.3 else None
    km = haversine_km(a, b)
    dist = round(km / 1.609344 if unit else km, 1)
    if unit:
        phrase = "What's the distance between %s and %s in miles?" % (a, b)
        args = {"is_from": a, "to": b, "unit": "mi"}
    else:
        phrase = pick(rng, ["How far is %s from %s?" % (b, a), "What's the distance from %s to %s?" % (a, b)])
        args = {"is_from": a, "to": b}
    r = {"from": a, "to": b, "distance": dist, "unit": unit or "km"}
    tool, api = find_api("Distance Calculator", "City Distance")
    return {"phrase": phrase, "answer": "%s and %s are about %s %s apart." % (a, b, fmt_num(dist), unit or "km"),
            "calls": [call(tool, api, args, r, "the distance between %s and %s" % (a, b))]}


def travel_time(rng, ctx):
    a, b = rng.sample(CITY_NAMES, 2)
    km = haversine_km(a, b)
    mode = "flying" if km > 1500 else pick(rng, ["driving", "train", "flying"])
    hours = round(km / {"driving": 80.0, "train": 140.0, "flying": 750.0}[mode] + (3.0 if mode == "flying" else 0.5), 1)
    word = {"driving": "car", "train": "train", "flying": "plane"}[mode]
    phrase = pick(rng, ["How long does it take to get from %s to %s by %s?" % (a, b, word),
                        "Estimate the travel time from %s to %s by %s." % (a, b, word)])
    r = {"from": a, "to": b, "mode": mode, "hours": hours}
    tool, api = find_api("Distance Calculator", "Travel Time Estimate")
    return {"phrase": phrase, "answer": "Going from %s to %s by %s takes about %s hours." % (a, b, word, hours),
            "calls": [call(tool, api, {"is_from": a, "to": b, "mode": mode}, r,
                           "the travel time from %s to %s by %s" % (a, b, word))]}


# Which intents belong to which tool (the chained flight_then_weather spans two tools).
INTENTS = {
    "SkyCast Weather": [weather_now, forecast, air_quality],
    "FX Rates Live": [fx_convert, fx_latest, fx_supported],
    "StockQuote": [stock_quote, company_profile],
    "Crypto Ticker": [coin_price, top_coins],
    "Unit Converter Pro": [convert_length, convert_weight, convert_temperature],
    "World Clock": [time_in_city, time_difference],
    "Recipe Finder": [recipe_search, recipe_full],
    "Open Dictionary": [define, synonyms],
    "Lingo Translate": [translate, detect_language],
    "Holiday Calendar": [public_holidays, is_holiday],
    "Flight Status": [flight_status, airport_delays],
    "Distance Calculator": [city_distance, travel_time],
}
CROSS_TOOL_INTENTS = [flight_then_weather]
