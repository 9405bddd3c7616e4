"""The embedded corpus: news-style documents and one-sentence summaries, generated deterministically.

It has XSum's schema and shape (several newline-separated sentences, one abstractive summary) so the
pipeline runs offline end to end and ROUGE means something:
- the summary restates the story's main fact in other words (synonyms map to one verb, score lines
  are turned round, a fact can sit in another sentence than the event), so copying the lead sentence
  scores poorly;
- names and numbers must be carried over from the document;
- the story is told in varied order, and distractor sentences about other people, firms and places
  surround it.
All text is written here; nothing is copied from elsewhere.
"""

import random

import pyarrow as pa

from summarization.config import EmbeddedCorpus

FIRST_NAMES = """Alys Bryn Cai Delyth Eira Ffion Gethin Heledd Iolo Jac Kerys Llew Mabli Nia Osian Pryce
Rhian Sioned Tomos Urien Wyn Ynyr Anwen Carys Dafydd Elin Gwion Hafwen Ifan Lowri""".split()
SURNAMES = """Ashdown Brightwell Calloway Denholm Eastwood Fairbairn Garside Holloway Inchley Jessop Kilbride
Lockhart Marchant Northcott Oakden Pennock Quarrie Redfern Southam Thackray Underhill Varley Whitlock
Yardley Ambler Birtwistle Corrigan Dunstable Ellery Frogatt""".split()
PLACES = """Aldermoor Brackenfield Carrowby Dunmere Elmstead Fenwick Glasbury Harrowdene Ivybridge Kelsmoor
Langholm Marsden Netherby Oxley Pendrick Queensferry Rothwell Saltmarsh Thornbury Upwell Westerdale
Yarrowford Ashwick Brockley Cullompton Dalby Eskdale Fallowfield Greystead Hollins""".split()
FIRM_STEMS = """Harbridge Kestrel Norland Tallis Meridian Oakmere Pelham Crestway Bramble Halcyon Larkspur
Winterton Ravensworth Silverdale Copperfield Ashgrove""".split()
FIRM_TRADES = ["Foods", "Engineering", "Bank", "Motors", "Textiles", "Energy", "Logistics", "Pharmaceuticals"]
TEAM_SUFFIXES = ["Rovers", "United", "City", "Athletic", "Town", "Wanderers"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
ROLES = ["chief executive", "finance director", "chairman", "head of research", "managing director"]
HAZARDS = ["snow", "ice", "heavy rain", "strong winds", "fog", "thunderstorms"]
WARNING_COLOURS = ["yellow", "amber"]
CRIMES = ["burglary", "fraud", "arson", "dangerous driving", "theft", "assault"]
FACILITIES = ["library", "swimming pool", "footbridge", "primary school", "sports centre", "health centre"]
STUDY_SUBJECTS = [
    ("hedgehogs", "travel further at night than previously thought"),
    ("honey bees", "can recognise individual human faces"),
    ("otters", "have returned to every river in the region"),
    ("oak trees", "grow faster after a wet spring"),
    ("seals", "sleep for up to six hours at sea"),
    ("barn owls", "nest closer to towns than they once did"),
]
RISE_VERBS = ["rose", "climbed", "jumped", "increased", "grew"]
FALL_VERBS = ["fell", "dropped", "slumped", "declined", "slipped"]


class Story:
    """One document and its summary, filled from a random draw of entities and numbers."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.sentences: list[str] = []  # supporting sentences, shuffled around the lead fact

    def person(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(SURNAMES)}"

    def firm(self) -> str:
        return f"{self.rng.choice(FIRM_STEMS)} {self.rng.choice(FIRM_TRADES)}"

    def place(self) -> str:
        return self.rng.choice(PLACES)

    def number(self, low: int = 2, high: int = 99) -> int:
        return self.rng.randint(low, high)

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)


def profits(s: Story) -> tuple[str, str]:
    firm, place, now, before = s.firm(), s.place(), s.number(), s.number()
    rising = now > before
    verb = s.rng.choice(RISE_VERBS if rising else FALL_VERBS)
    lead = s.pick(
        f"{firm} said profits for the year had {verb} to {now} million pounds, from {before} million.",
        f"Annual profits at {firm} {verb} to {now} million pounds, the company said on {s.pick(*DAYS)}.",
        f"The {place}-based firm reported that its profits {verb} to {now} million pounds.",
    )
    s.sentences += [
        f"{firm} employs {s.number()} hundred people at its headquarters in {place}.",
        f"Chief executive {s.person()} said the results reflected a {s.pick('strong', 'difficult', 'busy')} year.",
        s.pick(
            f"Shares in {firm} {s.rng.choice(RISE_VERBS + FALL_VERBS)} {s.number(2, 9)} per cent in early trading.",
            f"Analysts had expected profits of about {s.number()} million pounds.",
        ),
    ]
    summary = f"{firm} has reported a {'rise' if rising else 'fall'} in annual profits to {now} million pounds."
    return lead, summary


def appointment(s: Story) -> tuple[str, str]:
    firm, new, old, role = s.firm(), s.person(), s.person(), s.rng.choice(ROLES)
    lead = s.pick(
        f"{new} will take over as {role} at {firm} next month.",
        f"{firm} has named {new} as its new {role}.",
        f"{new}, who joined {firm} in {s.number(1990, 2019)}, has been given the role of {role}.",
    )
    s.sentences += [
        f"{old} announced in {s.pick(*MONTHS)} that {s.pick('she', 'he')} would step down "
        f"after {s.number(3, 20)} years.",
        f"{new} previously worked for {s.firm()} in {s.place()}.",
        f'"I am delighted to be taking on this role," said {new}.',
    ]
    summary = f"{firm} has appointed {new} as {role}, replacing {old}."
    return lead, summary


def football(s: Story) -> tuple[str, str]:
    home, away = s.rng.sample(PLACES, 2)
    winner, loser = f"{home} {s.rng.choice(TEAM_SUFFIXES)}", f"{away} {s.rng.choice(TEAM_SUFFIXES)}"
    won = s.number(1, 6)
    lost = s.number(0, won - 1)
    scorer = s.person()
    lead = s.pick(
        f"{winner} beat {loser} {won}-{lost} on {s.pick(*DAYS)}.",
        f"{loser} lost {lost}-{won} to {winner} in front of {s.number()} hundred fans.",
        f"{scorer} scored twice as {winner} won {won}-{lost} against {loser}.",
    )
    s.sentences += [
        f"{scorer} opened the scoring for {winner} after {s.number(2, 40)} minutes.",
        f"{loser} manager {s.person()} said his side had {s.pick('not done enough', 'been unlucky', 'lacked energy')}.",
        f"The result leaves {winner} {s.pick('top of', 'second in', 'mid-table in')} the league.",
    ]
    summary = f"{winner} secured a {won}-{lost} victory over {loser}."
    return lead, summary


def weather(s: Story) -> tuple[str, str]:
    hazard, colour, place, day = s.rng.choice(HAZARDS), s.rng.choice(WARNING_COLOURS), s.place(), s.pick(*DAYS)
    lead = s.pick(
        f"A {colour} warning for {hazard} has been issued for {place} on {day}.",
        f"Forecasters say {hazard} could hit {place} from early on {day}.",
        f"People in {place} have been told to prepare for {hazard} on {day}.",
    )
    s.sentences += [
        f"The warning runs from {s.number(1, 11)} in the morning until midnight.",
        f"Drivers have been advised to allow extra time for journeys around {place}.",
        f"Up to {s.number(5, 60)} millimetres of rain fell in {s.place()} last week.",
    ]
    summary = f"Forecasters have warned of {hazard} in {place} on {day}."
    return lead, summary


def court(s: Story) -> tuple[str, str]:
    person, age, place, crime, years = s.person(), s.number(18, 80), s.place(), s.rng.choice(CRIMES), s.number(2, 12)
    lead = s.pick(
        f"{person}, {age}, of {place}, was jailed for {years} years after admitting {crime}.",
        f"A judge sentenced {person} to {years} years in prison for {crime}.",
        f"{person} will serve {years} years for {crime}, a court heard.",
    )
    s.sentences += [
        f"The {age}-year-old, who lives in {place}, had denied the charge at first.",
        f"Police said the case had taken {s.number(2, 18)} months to investigate.",
        f"{s.person()}, defending, said his client was {s.pick('sorry', 'ashamed', 'remorseful')}.",
    ]
    summary = f"A {age}-year-old from {place} has been jailed for {years} years for {crime}."
    return lead, summary


def closure(s: Story) -> tuple[str, str]:
    firm, place, jobs = s.firm(), s.place(), s.number(20, 99)
    lead = s.pick(
        f"{firm} is to close its factory in {place}, putting {jobs} jobs at risk.",
        f"About {jobs} workers at the {firm} plant in {place} were told on {s.pick(*DAYS)} that it would shut.",
        f"The {place} site of {firm} will close by {s.pick(*MONTHS)}, with {jobs} jobs to go.",
    )
    s.sentences += [
        f"The plant has been open since {s.number(1950, 2010)}.",
        f"Union official {s.person()} called the news {s.pick('devastating', 'a bitter blow', 'shocking')}.",
        f"{firm} said demand had fallen by {s.number(5, 40)} per cent.",
    ]
    summary = f"{jobs} jobs are under threat after {firm} announced plans to close its {place} factory."
    return lead, summary


def funding(s: Story) -> tuple[str, str]:
    place, facility, millions = s.place(), s.rng.choice(FACILITIES), s.number(2, 40)
    lead = s.pick(
        f"Councillors in {place} have approved {millions} million pounds to build a new {facility}.",
        f"Plans for a {facility} in {place} have been given the go-ahead.",
        f"A new {facility} will open in {place} in {s.number(2025, 2029)}, the council said.",
    )
    s.sentences += [
        f"The project is expected to cost {millions} million pounds.",
        f"Council leader {s.person()} said the {facility} was "
        f"{s.pick('long overdue', 'good news for families', 'a vital investment')}.",
        f"Work is due to start in {s.pick(*MONTHS)}.",
    ]
    summary = f"A new {facility} is to be built in {place} at a cost of {millions} million pounds."
    return lead, summary


def research(s: Story) -> tuple[str, str]:
    (subject, finding), place = s.rng.choice(STUDY_SUBJECTS), s.place()
    lead = s.pick(
        f"Researchers at the University of {place} found that {subject} {finding}.",
        f"A study of {s.number(20, 99)} sites suggests that {subject} {finding}.",
        f"Scientists have discovered that {subject} {finding}.",
    )
    s.sentences += [
        f"The team from the University of {place} spent {s.number(2, 9)} years on the project.",
        f"Lead author {s.person()} said the results were {s.pick('surprising', 'encouraging', 'remarkable')}.",
        f"The findings are published in the journal {s.pick('Nature Notes', 'Field Studies', 'Wildlife Review')}.",
    ]
    summary = f"{subject[0].upper()}{subject[1:]} {finding}, according to scientists in {place}."
    return lead, summary


STORIES = [profits, appointment, football, weather, court, closure, funding, research]


def distractor(s: Story) -> str:
    """A sentence about someone or somewhere else, so the model must learn what to leave out."""
    return s.pick(
        f"Last year, {s.firm()} moved its offices to {s.place()}.",
        f"Separately, {s.person()} was named mayor of {s.place()}.",
        f"Earlier this month, {s.number()} homes in {s.place()} lost power.",
        f"{s.place()} hosted a food festival in {s.pick(*MONTHS)} that drew {s.number()} thousand visitors.",
        f"Roadworks on the main road into {s.place()} are due to finish on {s.pick(*DAYS)}.",
    )


def story(rng: random.Random) -> tuple[str, str]:
    """One (document, summary) pair: the lead fact, its shuffled context and some distractors."""
    s = Story(rng)
    lead, summary = rng.choice(STORIES)(s)
    body = s.sentences + [distractor(s) for _ in range(rng.randint(1, 3))]
    rng.shuffle(body)
    body.insert(rng.choice([0, 0, 1, 2, 3]), lead)  # the fact leads two stories in five
    return "\n".join(body), summary


def generate(cfg: EmbeddedCorpus) -> dict[str, pa.Table]:
    """All three splits, XSum's columns; the same seed and sizes give the same rows."""
    rng = random.Random(cfg.seed)
    sizes = {"train": cfg.train_size, "validation": cfg.validation_size, "test": cfg.test_size}
    splits, next_id = {}, 10_000_000  # XSum ids are numeric strings
    for split, size in sizes.items():
        pairs = [story(rng) for _ in range(size)]
        ids = [str(next_id + i) for i in range(size)]
        next_id += size
        splits[split] = pa.table({"id": ids, "document": [d for d, _ in pairs], "summary": [s for _, s in pairs]})
    return splits
