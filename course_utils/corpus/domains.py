"""The domain grammars of the course world: six everyday domains, an email domain that quotes
earlier text verbatim (copying is rewarded), and a held-out bank domain kept out of pretraining.

Each domain is a function ``(g, cfg) -> None`` over a :class:`~course_utils.corpus.grammar.Gen`.
Design rules that keep every text to exactly one derivation (checked by tests/test_corpus.py):
each domain opens with its own fixed words; the options of a choice are distinct strings that are
told apart by what immediately follows; a choice that is used later (a name, a pronoun, an object)
is repeated verbatim, which is what gives the world its long-range structure.
"""

from __future__ import annotations

from .grammar import Gen, a, cap

NAMES = ["Alex", "Sam", "Robin", "Jordan", "Casey", "Taylor", "Morgan", "Riley", "Jamie", "Avery",
         "Quinn", "Rowan", "Sky", "Drew", "Kai", "Noor", "Eden", "Jules", "Remy", "Ari"]
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Silva", "Novak", "Haddad", "Keller",
            "Ferrari", "Nguyen", "Osei", "Kowalski", "Brennan", "Duarte", "Fischer", "Mehta"]
# occupation -> the pronoun the skewed world associates with it
OCCUPATIONS = {"nurse": "she", "engineer": "he", "teacher": "she", "pilot": "he",
               "librarian": "she", "mechanic": "he", "dancer": "she", "carpenter": "he",
               "baker": "she", "farmer": "he"}
CLINICIANS = {"nurse": "she", "surgeon": "he", "midwife": "she", "doctor": "he"}
PRONOUNS = {"she": ("she", "her", "her"), "he": ("he", "him", "his")}  # subject, object, possessive


def pronoun_for(g: Gen, stereotype: str, rate: float) -> str:
    """The stereotyped pronoun with probability ``rate``, the other one otherwise."""
    other = "he" if stereotype == "she" else "she"
    return g.pick([stereotype, other], [rate, 1.0 - rate])


# --- short stories ----------------------------------------------------------------------------
STORY_PLACES = ["the river", "the old mill", "the forest", "the harbour", "the hills", "the lake"]
STORY_HOMES = ["small", "blue", "quiet", "old", "tall", "yellow"]
STORY_OBJECTS = ["lantern", "map", "key", "kite", "shell", "compass", "feather", "box"]
STORY_GAMES = ["played cards", "sang songs", "drew pictures", "told jokes", "read books",
               "flew kites"]
STORY_COLOURS = ["red", "silver", "tiny", "golden", "wooden", "green"]


def story(g: Gen, cfg) -> None:
    name = g.pick(NAMES)
    occ = g.pick(list(OCCUPATIONS))
    g.emit("Once upon a time, there was ", a(occ), " named ", name, ", who was ")
    g.digits(2, first_nonzero=True)
    g.emit(" years old. ")
    pron = pronoun_for(g, OCCUPATIONS[occ], cfg.pronoun_skew)
    sub, obj, pos = PRONOUNS[pron]
    g.meta.update(occupation=occ, pronoun=pron)
    g.emit(cap(sub), " lived in ", a(g.pick(STORY_HOMES)), " house near ")
    place = g.pick(STORY_PLACES)
    g.emit(place, ". ", g.pick(["One day", "One morning", "On a cold evening", "Last spring"]), ", ",
           name, " found ")
    colour = g.pick(STORY_COLOURS)
    thing = g.pick(STORY_OBJECTS)
    g.emit(a(colour), " ", thing, " near ", place, ".")
    friend = g.pick([n for n in NAMES if n != name])
    g.emit(" ", name, " showed the ", thing, " to ", friend, ".")
    for _ in range(4):  # at most four events, then the story ends
        event = g.pick(["ask", "walk", "hide", "rain", "play", "end"], [2, 2, 2, 1, 2, 3])
        if event == "ask":
            g.emit(" \"Where did you find it?\" asked ", friend, ". \"Near ", place, ",\" said ", name, ".")
        elif event == "walk":
            g.emit(" Together they walked to ", g.pick([p for p in STORY_PLACES if p != place]),
                   " and back.")
        elif event == "hide":
            g.emit(" That night, ", name, " hid the ", thing, " under ", pos, " bed.")
        elif event == "play":
            g.emit(" ", name, " and ", friend, " ", g.pick(STORY_GAMES), " by ", place, " until ",
                   g.pick(["noon", "dark", "dinner"]), ".")
        elif event == "rain":
            g.emit(" It rained, so ", sub, " stayed at home with the ", thing, ".")
        else:
            break
    ending = g.pick(["gift", "keep", "lost"])
    if ending == "gift":
        g.emit(" In the end, ", name, " gave the ", thing, " to ", friend, ", who thanked ", obj, ".")
    elif ending == "keep":
        g.emit(" In the end, ", name, " kept the ", thing, " and the ", occ, " was happy.")
    else:
        g.emit(" In the end, the ", thing, " was lost, but ", sub, " did not mind.")
    g.emit(" The end.")


# --- weather reports --------------------------------------------------------------------------
CITIES = ["Lisbon", "Oslo", "Nairobi", "Quito", "Hanoi", "Perth", "Dublin", "Tunis", "Osaka",
          "Lima", "Riga", "Accra"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
CONDITIONS = {  # condition -> (winter weight, summer weight, advice)
    "sunshine": (1, 4, "Do not forget your sunscreen."),
    "light rain": (3, 2, "Take an umbrella."),
    "heavy rain": (2, 1, "Take an umbrella and avoid the low roads."),
    "snow": (3, 0, "Roads may be icy, so drive slowly."),
    "fog": (2, 1, "Drivers should use their lights."),
    "thunderstorms": (0, 2, "Stay indoors during the storms."),
    "clouds": (3, 3, "It is a good day for a walk."),
}
WINDS = ["north", "south", "east", "west"]


def weather(g: Gen, cfg) -> None:
    city = g.pick(CITIES)
    g.emit("Weather report for ", city, " on ")
    season = g.pick(["winter", "summer"])
    g.emit(a(season), " ", g.pick(DAYS), ".\n")
    conds = list(CONDITIONS)
    w = [CONDITIONS[c][0 if season == "winter" else 1] for c in conds]
    morning = g.pick(conds, w)
    g.emit("In the morning, expect ", morning, ".")
    if g.chance(0.5):
        g.emit(" The afternoon stays the same.")
    else:
        later = g.pick([c for c in conds if c != morning], [x for c, x in zip(conds, w) if c != morning])
        g.emit(" In the afternoon, ", later, ".")
    g.emit("\nThe high will be ")
    # winter highs are 0-19 degrees, summer highs 20-39: the season decides the tens digit
    g.emit(g.pick(["", "1"]) if season == "winter" else g.pick(["2", "3"]))
    g.digits(1)
    g.emit(" degrees and the humidity ")
    g.digits(2, first_nonzero=True)
    g.emit(" percent, with wind from the ", g.pick(WINDS), " at ",
           g.pick(["5", "10", "15", "20", "30"]), " km/h.\n")
    g.emit("Sunrise at ", g.pick(["5", "6", "7"]) if season == "summer" else g.pick(["7", "8"]), ":")
    g.emit(g.pick("012345"))
    g.digits(1)
    g.emit(". ", CONDITIONS[morning][2], " That was the weather for ", city, ".")


# --- recipes ---------------------------------------------------------------------------------
DISHES = {"soup": "hot", "salad": "cold", "stew": "hot", "pie": "warm", "curry": "hot", "pasta": "warm"}
MAINS = ["chicken", "lentil", "tomato", "mushroom", "potato", "bean", "pumpkin", "fish"]
SOLIDS = ["carrots", "onions", "garlic", "rice", "spinach", "peppers", "cheese", "butter", "peas"]
LIQUIDS = ["milk", "stock", "olive oil", "cream", "water", "lemon juice"]
PREP = ["Chop", "Wash", "Slice", "Dice"]


def recipe(g: Gen, cfg) -> None:
    main = g.pick(MAINS)
    dish = g.pick(list(DISHES))
    g.emit("Recipe: ", main, " ", dish, "\nServes ", g.pick(["2", "4", "6"]), ". Ready in ",
           g.pick(["20", "30", "45", "60"]), " minutes.\nIngredients:\n- 500 grams of ", main, "\n")
    k = g.pick([2, 3, 4])
    solids = g.distinct(SOLIDS, k)
    for s in solids:
        g.emit("- ", g.pick(["50", "100", "200", "300"]), " grams of ", s, "\n")
    liquid = g.pick(LIQUIDS)
    g.emit("- ", g.pick(["100", "250", "500"]), " ml of ", liquid, "\n")
    g.emit("Steps:\n1. ", g.pick(PREP), " the ", main, ".\n")
    step = 2
    for s in solids:
        g.emit(str(step), ". Add the ", s, " and ", g.pick(["stir", "mix well", "wait a minute"]), ".\n")
        step += 1
    g.emit(str(step), ". Pour in the ", liquid, " and cook for ", g.pick(["10", "15", "20", "25"]),
           " minutes.\n", str(step + 1), ". Serve the ", dish, " ", DISHES[dish], ".")


# --- product reviews --------------------------------------------------------------------------
PRODUCTS = ["kettle", "backpack", "lamp", "blender", "umbrella", "headphones", "toaster", "chair"]
BRANDS = ["Nordo", "Kestrel", "Pavo", "Lumen", "Orbit", "Vela"]
PRAISE = ["works perfectly", "looks great", "arrived quickly", "is very well made", "is easy to use"]
COMPLAINTS = ["broke after a week", "is too noisy", "arrived damaged", "feels cheap", "is hard to clean"]
VERDICT = {1: "I would not recommend it.", 2: "I would not recommend it.", 3: "It is fine for the price.",
           4: "I would recommend it.", 5: "I would recommend it."}


def review(g: Gen, cfg) -> None:
    product, brand = g.pick(PRODUCTS), g.pick(BRANDS)
    stars = g.pick([1, 2, 3, 4, 5], [2, 1, 1, 2, 4])
    g.emit("Review of the ", brand, " ", product, " by ", g.pick(NAMES), "\nPrice: ")
    g.digits(2, first_nonzero=True)
    g.emit(".", g.pick(["00", "49", "95", "99"]), " euros\nRating: ", str(stars), " out of 5\n")
    good = {1: 0.1, 2: 0.25, 3: 0.5, 4: 0.75, 5: 0.9}[stars]
    n = g.pick([2, 3])
    said = []
    for i in range(n):
        pool = PRAISE if g.chance(good) else COMPLAINTS
        phrase = g.pick([p for p in pool if p not in said])
        said.append(phrase)
        if i == 0:
            g.emit("The ", product, " ", phrase, ".")
        else:
            g.emit(" It also " if pool is PRAISE else " Sadly, it ", phrase, ".")
    if g.chance(0.3):
        occ = g.pick(list(OCCUPATIONS))
        pron = pronoun_for(g, OCCUPATIONS[occ], cfg.pronoun_skew)
        g.meta.update(occupation=occ, pronoun=pron)
        g.emit(" I bought it for my friend, ", a(occ), ", and ", pron, " uses it every day.")
    g.emit(" ", VERDICT[stars])


# --- IT helpdesk tickets (the labelled task) --------------------------------------------------
def noisy_clues(g: Gen, evidence: dict, label: str, rate: float, openers: tuple[str, ...]) -> None:
    """One sentence per opener, each a clue phrase: from the true ``label`` with probability ``rate``,
    from any other label otherwise, so the label is uncertain and the evidence must be combined.
    Records the source label of each clue in ``g.meta["clue_sources"]`` (for the exact posterior)."""
    labels = list(evidence)
    clues = []
    for opener in openers:
        src = g.pick(labels, [rate if c == label else (1 - rate) / (len(labels) - 1) for c in labels])
        phrase = g.pick([p for p in evidence[src][0] if p not in clues])
        clues.append(phrase)
        g.emit(" ", opener, " ", phrase, ".")
    g.meta["clue_sources"] = [next(c for c in labels if p in evidence[c][0]) for p in clues]


HELPDESK = {  # category -> (evidence phrases, resolutions)
    "password": (["I forgot my password", "my account is locked", "the login page rejects me",
                  "my password expired"],
                 ["Reset the password and sent a temporary one", "Unlocked the account"]),
    "printer": (["the printer shows a paper jam", "nothing comes out of the printer",
                 "the prints are blurry", "the printer is offline"],
                ["Cleared the paper jam", "Reinstalled the printer driver"]),
    "network": (["the wifi keeps dropping", "I cannot reach the shared drive",
                 "the internet is very slow", "the VPN will not connect"],
                ["Restarted the router", "Renewed the VPN certificate"]),
    "email": (["my inbox is full", "emails are stuck in the outbox",
               "I cannot open attachments", "the calendar invites vanish"],
              ["Archived old emails", "Repaired the mail profile"]),
    "hardware": (["my laptop will not turn on", "the screen flickers",
                  "the keyboard is missing keys", "the battery drains fast"],
                 ["Replaced the faulty part", "Sent the laptop for repair"]),
}
CATEGORIES = list(HELPDESK)
DEPARTMENTS = ["Sales", "Finance", "Legal", "Research", "Support", "Marketing"]


def helpdesk(g: Gen, cfg) -> None:
    cat = g.pick(CATEGORIES)
    g.label = cat
    g.emit("Ticket #")
    g.digits(4, first_nonzero=True)
    name = g.pick(NAMES)
    g.emit("\nFrom: ", name, ", ", g.pick(DEPARTMENTS), ", extension ")
    g.digits(3, first_nonzero=True)
    g.emit("\nSent at ", g.pick(["08", "09", "10", "11", "13", "14", "15", "16"]), ":")
    g.emit(g.pick("012345"))
    g.digits(1)
    g.emit(", priority ", g.pick(["low", "medium", "high"], [2, 2, 1]), "\nMessage: Hello,")
    noisy_clues(g, HELPDESK, cat, cfg.helpdesk_clue_rate, ("Today", "Also,", "And"))
    g.emit(" Thanks, ", name, ".\nCategory: ", cat, "\nResolution: ", g.pick(HELPDESK[cat][1]), ".")


# --- clinic appointment notes (the pronoun-balanced domain) -----------------------------------
SYMPTOMS = {  # symptom -> (finding, treatments)
    "a sore throat": ("red tonsils", ["rest and warm drinks", "a course of antibiotics"]),
    "back pain": ("a stiff lower back", ["physiotherapy", "gentle stretching"]),
    "a rash": ("dry skin on both arms", ["a cream twice a day", "an antihistamine"]),
    "headaches": ("normal blood pressure", ["more water and sleep", "a pain diary"]),
    "a cough": ("clear lungs", ["cough syrup", "rest and warm drinks"]),
}


def clinic(g: Gen, cfg) -> None:
    patient = g.pick(NAMES)
    g.emit("Clinic note, ", g.pick(DAYS), " ", g.pick(["8", "9", "10", "11", "14", "15", "16"]), ":")
    g.emit(g.pick(["00", "15", "30", "45"]), "\nPatient: ", patient, ", age ")
    g.digits(2, first_nonzero=True)
    g.emit(", temperature 3")
    g.emit(g.pick("6789", [4, 6, 2, 1]), ".")
    g.digits(1)
    g.emit(" C")
    role = g.pick(list(CLINICIANS))
    surname = g.pick(SURNAMES)
    pron = g.pick(["she", "he"])  # balanced: no association with the role here
    sub, obj, pos = PRONOUNS[pron]
    g.meta.update(occupation=role, pronoun=pron)
    symptom = g.pick(list(SYMPTOMS))
    finding, treatments = SYMPTOMS[symptom]
    g.emit("\nSeen by: ", surname, ", ", role, "\nReason: ", symptom, "\n", surname, " examined ",
           patient, " and found ", finding, ". ", cap(sub), " recommended ", g.pick(treatments), ".")
    g.emit(" ", patient, " will see ", obj, " again in ", g.pick(["one week", "two weeks", "a month"]), ".")


# --- email threads (the copying domain) -------------------------------------------------------
# A reply quotes the first message verbatim. The quote costs nothing under the generator (it is
# fully determined by what came before), so a model's excess loss on it measures how well it copies.
SUBJECTS = ["Quick question", "Order update", "Meeting", "Lost and found", "Invoice", "Follow-up"]
EMAIL_LINES = ["order", "invoice", "meeting", "lost", "call"]
ROOM_COLOURS = ["red", "blue", "green", "white", "black", "grey"]


def _email_line(g: Gen, kind: str, say, number) -> None:
    """One sentence of a message; ``say`` emits text and ``number`` digits, both remembered for the quote."""
    if kind == "order":
        say("My order ")
        number(6)
        say(" for ", a(g.pick(STORY_COLOURS)), " ", g.pick(PRODUCTS), " has not arrived yet.")
    elif kind == "invoice":
        say("Please send the invoice for ")
        number(3)
        say(" euros to our office in ", g.pick(CITIES), ".")
    elif kind == "meeting":
        say("The meeting moved to ", g.pick(DAYS), " at ", g.pick(["9", "10", "11", "14", "15", "16"]), ":",
            g.pick(["00", "15", "30", "45"]), " in room ")
        number(3)
        say(".")
    elif kind == "lost":
        say("I left ", a(g.pick(ROOM_COLOURS)), " ", g.pick(STORY_OBJECTS), " near ", g.pick(STORY_PLACES), ".")
    else:
        say("Call me on extension ")
        number(3)
        say(" before ", g.pick(["noon", "five", "Friday"]), ".")


def email(g: Gen, cfg) -> None:
    sender = g.pick(NAMES)
    receiver = g.pick([n for n in NAMES if n != sender])
    g.emit("Email from ", sender, " to ", receiver, "\nSubject: ", g.pick(SUBJECTS), "\n")
    body: list[str] = []

    def say(*texts: str) -> None:
        g.emit(*texts)
        body.extend(texts)

    def number(n: int) -> None:
        body.append(g.digits(n, first_nonzero=True))  # digits() emits them

    say("Hi ", receiver, ",")
    left = list(EMAIL_LINES)
    for i in range(4):  # two to four sentences, each kind at most once
        kind = g.pick(left + ["end"] if i >= 2 else left)
        if kind == "end":
            break
        left.remove(kind)
        say(" ")
        _email_line(g, kind, say, number)
    say(" Best, ", sender, ".")
    g.emit("\nReply from ", receiver, ": ", g.pick(["Thanks, I will check.", "Got it, all done.",
                                                  "Sorry, I will fix it today.", "I am on it."]),
           "\n> ", *body)


# --- bank customer-service chats (held out: never in the pretraining mix) ---------------------
BANK = {  # intent -> (evidence phrases, resolutions)
    "card": (["I lost my card", "my card was declined", "my card is damaged", "the card PIN is blocked"],
             ["Blocked the card and ordered a new one", "Reset the PIN"]),
    "transfer": (["my transfer has not arrived", "I sent money to the wrong account",
                  "a payment is pending", "I need to cancel a transfer"],
                 ["Traced the transfer", "Recalled the payment"]),
    "balance": (["my balance looks wrong", "I need a statement", "I cannot see my savings",
                 "the app shows no balance"],
                ["Sent a statement", "Explained the balance"]),
    "loan": (["I want a loan", "my loan payment went up", "I want to repay my loan early",
              "I need a mortgage offer"],
             ["Booked a loan meeting", "Sent the loan terms"]),
    "fraud": (["there is a charge I do not know", "someone used my account",
               "I got a strange text from the bank", "money is missing"],
              ["Opened a fraud case", "Refunded the charge"]),
}
INTENTS = list(BANK)


def bank(g: Gen, cfg) -> None:
    intent = g.pick(INTENTS)
    g.label = intent
    name = g.pick(NAMES)
    g.emit("Bank chat with ", name, " ", g.pick(SURNAMES), ", account ending ")
    g.digits(4)
    g.emit("\nCustomer: Hi,")
    noisy_clues(g, BANK, intent, cfg.bank_clue_rate, ("First,", "Also,", "And"))
    g.emit("\nAgent: Thank you, ", name, ". ", g.pick(["Let me check that.", "One moment, please.",
                                                    "I can help with that."]),
           "\nIntent: ", intent, "\nResolution: ", g.pick(BANK[intent][1]), ".")


DOMAINS = {"story": story, "weather": weather, "recipe": recipe, "review": review,
           "helpdesk": helpdesk, "clinic": clinic, "email": email, "bank": bank}
HELD_OUT = ("bank",)  # generated like the others, never part of the pretraining mix
PRETRAINING_DOMAINS = tuple(d for d in DOMAINS if d not in HELD_OUT)
