"""The search service's pure rules: tokenizing, what is indexed, how a query reads."""

from services.common import paging
from services.search import terms
from services.search.stop_words import STOP_WORDS


def test_words_are_lower_case_distinct_and_without_stop_words():
    assert terms.words("The Cassandra cluster, THE cluster: a ring of 3 nodes!") == [
        "cassandra",
        "cluster",
        "ring",
        "nodes",
    ]


def test_words_split_at_punctuation_and_keep_letters_of_any_alphabet():
    assert terms.words("Élan/über_naïve—日本語 c++ x86") == [
        "élan",
        "über",
        "naïve",
        "日本語",
        "x86",
    ]


def test_overlong_words_and_too_many_words_are_not_indexed():
    assert terms.words("a" * 41) == []
    many = " ".join(f"w{n:04d}" for n in range(500))
    assert len(terms.words(many)) == terms.MAX_WORDS_PER_VIDEO


def test_tags_are_normalized_and_distinct():
    assert terms.index_tags(["Machine  Learning", "machine learning", " ", "NoSQL"]) == [
        "machine learning",
        "nosql",
    ]


def test_a_query_matches_the_whole_of_it_and_each_word_as_tags():
    assert terms.query_tags("Machine Learning") == ["machine learning", "machine", "learning"]
    assert terms.query_tags("cats") == ["cats"]


def test_a_query_looks_up_only_its_first_words():
    query = " ".join(f"word{n}" for n in range(20))
    assert terms.query_words(query) == [f"word{n}" for n in range(terms.MAX_WORDS_PER_QUERY)]
    # The whole query, then one tag per counted word.
    assert len(terms.query_tags(query)) == 1 + terms.MAX_WORDS_PER_QUERY


def test_the_stop_word_list_is_the_documented_one():
    assert {"the", "and", "of", "yourselves"} <= STOP_WORDS
    assert "cassandra" not in STOP_WORDS


def test_a_ranking_is_paged_by_position_within_its_scope():
    items = list(range(5))
    first, state = paging.page_of(items, 2, b"Sx", "")
    second, state2 = paging.page_of(items, 2, b"Sx", state)
    third, end = paging.page_of(items, 2, b"Sx", state2)
    assert (first, second, third, end) == ([0, 1], [2, 3], [4], "")
