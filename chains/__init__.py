"""Chain recipes as functions returning Runnables (classic and LCEL), plus our checked sequential composition.

>>> from chains import perfect_day
>>> from llms import load_model
>>> perfect_day(load_model("fake:Sunny.")).invoke({"city": "Paris"})
'Sunny.'
"""

from chains.catalogue import (
    Catalogue,
    CatalogueError,
    Genre,
    Movie,
    UnknownGenreError,
    genre_label,
    load_catalogue,
    match_genres,
)
from chains.chat import History, chat
from chains.json_qa import Answer, json_qa
from chains.judge import Judgement, Tally, Verdict, answer_chain, judge_pair, judge_pairs, verdict_chain
from chains.language import detect_language
from chains.movie_night import movie_night, movie_night_classic, movie_night_lcel
from chains.perfect_day import perfect_day, perfect_day_classic
from chains.self_instruct import (
    AlpacaTask,
    NewTask,
    SeedFileError,
    SelfInstruct,
    TaskFilter,
    load_seed_tasks,
    rouge_l,
    task_writer,
)
from chains.sequential import (
    ChainBuildError,
    ChainInputError,
    DuplicateKeyError,
    MissingKeyError,
    SequentialRecipe,
    StateChunk,
    Step,
    sequential,
)
from chains.translate import MODES, translate, translate_all

__all__ = [
    "MODES",
    "AlpacaTask",
    "Answer",
    "Catalogue",
    "CatalogueError",
    "ChainBuildError",
    "ChainInputError",
    "DuplicateKeyError",
    "Genre",
    "History",
    "Judgement",
    "MissingKeyError",
    "Movie",
    "NewTask",
    "SeedFileError",
    "SelfInstruct",
    "SequentialRecipe",
    "StateChunk",
    "Step",
    "Tally",
    "TaskFilter",
    "UnknownGenreError",
    "Verdict",
    "answer_chain",
    "chat",
    "detect_language",
    "genre_label",
    "json_qa",
    "judge_pair",
    "judge_pairs",
    "load_catalogue",
    "load_seed_tasks",
    "match_genres",
    "movie_night",
    "movie_night_classic",
    "movie_night_lcel",
    "perfect_day",
    "perfect_day_classic",
    "rouge_l",
    "sequential",
    "task_writer",
    "translate",
    "translate_all",
    "verdict_chain",
]
