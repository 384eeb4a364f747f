"""The pure rules of suggestions: how candidates are scored and ordered."""

import uuid
from collections import Counter

# A rating of 4 or 5 stars says "I liked it".
LIKED = 4
# Bounds on the work of one request.
MAX_TAGS_READ = 20
MAX_LIKED_READ = 20
MAX_CANDIDATES = 200
MAX_SIMILAR_USERS = 100


def normalized_tags(tags: list[str]) -> set[str]:
    """Tags compare case-insensitively, inner whitespace collapsed."""
    return {" ".join(tag.lower().split()) for tag in tags} - {""}


def liked(ratings: dict[uuid.UUID, int]) -> list[uuid.UUID]:
    return sorted(video for video, stars in ratings.items() if stars >= LIKED)


def shared_tags(tagged: list[list[uuid.UUID]], video_id: uuid.UUID) -> Counter:
    """From the videos of each of a video's tags: how many tags each other video shares."""
    shared = Counter(other for videos in tagged for other in videos)
    shared.pop(video_id, None)
    return shared


def similar_users(raters_of_liked: list[dict[uuid.UUID, int]], user_id) -> list[uuid.UUID]:
    """The other users who liked any of the videos the user liked."""
    return sorted(
        {
            rater
            for raters in raters_of_liked
            for rater, stars in raters.items()
            if stars >= LIKED and rater != user_id
        }
    )[:MAX_SIMILAR_USERS]


def liked_alike(raters: dict[uuid.UUID, int], their_ratings: dict, user_id: uuid.UUID) -> Counter:
    """For the users who liked a video (`raters`: user → stars), what else they liked: each video
    counts once per such user. `their_ratings` maps each of those users to their ratings."""
    alike = Counter()
    for rater, stars in raters.items():
        if rater != user_id and stars >= LIKED:
            alike.update(liked(their_ratings.get(rater, {})))
    return alike


def top_candidates(scores: Counter) -> list[uuid.UUID]:
    """The best-scored videos (id breaking ties), the only ones whose previews are read."""
    return sorted(scores, key=lambda video: (-scores[video], video))[:MAX_CANDIDATES]


def ordered(scores: Counter, previews: dict[uuid.UUID, dict]) -> list[dict]:
    """The previews of the scored videos that are known, highest score first, then newest, then
    by id: the one order every page is cut from."""
    known = [video for video in scores if video in previews]
    known.sort(key=lambda v: (-scores[v], -previews[v]["added_date"].timestamp(), v))
    return [previews[video] for video in known]
