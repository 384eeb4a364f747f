"""English stop words: left out of the word index and of query suggestions.

The list is the Snowball project's English stop-word list (snowballstem.org, BSD licence), the
one most search engines start from, shipped here so nothing is downloaded at run time. The
contracted forms of the original are left out because the tokenizer splits words at apostrophes.
"""

# One string, split: the list reads as a paragraph rather than 127 lines.
STOP_WORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can cannot could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself let me more most my myself no nor not of off on once only or other ought our ours
    ourselves out over own same shall she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    """.split()  # noqa: SIM905
)
