"""Classification and extraction of residents' messages. Pure: no I/O beyond loading bundled data.

Public interface (the rest of the bot uses only these):
    classify(text) -> Classification
    classify_many(texts) -> list[Classification]   the same, vectorised for batches
    mask_pii(text) -> str           phone and ID numbers masked, for group chats and logs
    find_location(text) -> Location | None
"""
from nlp.types import Classification, Emergency, Location
from nlp.api import classify, classify_many, find_location, mask_pii

__all__ = ["classify", "classify_many", "mask_pii", "find_location", "Classification", "Emergency", "Location"]
