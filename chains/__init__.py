"""Chain recipes as functions returning Runnables (classic and LCEL), and `sequential`, the checked composition.

>>> from chains import perfect_day
>>> from llms import load_model
>>> perfect_day(load_model("fake:Sunny.")).invoke({"city": "Paris"})
'Sunny.'

The recipe modules have their own names (`chains.movies`, `chains.itinerary`, ...), so no function here hides one.
"""

from chains.answers import json_qa
from chains.catalogue import CatalogueError, UnknownGenreError, load_catalogue
from chains.composition import ChainBuildError, ChainInputError, DuplicateKeyError, MissingKeyError, Step, sequential
from chains.conversation import chat
from chains.itinerary import perfect_day, perfect_day_classic
from chains.judge import judge_pair, judge_pairs
from chains.language import detect_language
from chains.movies import movie_night, movie_night_classic, movie_night_lcel
from chains.self_instruct import SeedFileError, SelfInstruct, load_seed_tasks
from chains.trace import StepTrace
from chains.translation import translate, translate_all

__all__ = [
    "CatalogueError",
    "ChainBuildError",
    "ChainInputError",
    "DuplicateKeyError",
    "MissingKeyError",
    "SeedFileError",
    "SelfInstruct",
    "Step",
    "StepTrace",
    "UnknownGenreError",
    "chat",
    "detect_language",
    "json_qa",
    "judge_pair",
    "judge_pairs",
    "load_catalogue",
    "load_seed_tasks",
    "movie_night",
    "movie_night_classic",
    "movie_night_lcel",
    "perfect_day",
    "perfect_day_classic",
    "sequential",
    "translate",
    "translate_all",
]
