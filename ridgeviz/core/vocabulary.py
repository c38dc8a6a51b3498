"""The words and colours of the two labellings, in one place: the phases along a trajectory and the outcomes of
final samples. Plain data (no imports), so a page that only draws can use them without loading torch.

Each meaning has one colour on every page, in the docs and in exports, and the two sets share no colour.
"""

PHASES = ("reach", "align", "held", "slide", "to a training point", "no ridge")
# one colour per meaning, never reused by the outcome colours below
PHASE_COLORS = {"reach": "#4C78A8", "align": "#F58518", "held": "#B279A2", "slide": "#EECA3B",
                "to a training point": "#9D755D", "no ridge": "#BAB0AC"}
# what each colour encodes, in words (pages, docs and CLI print these)
PHASE_MEANINGS = {
    "reach": "not yet inside the tube around the ridge",
    "align": "in the tube, and the distance to the ridge is still shrinking toward the level the normal error sets",
    "held": "kept in place on the ridge: the tangential error cancels the exact score's pull toward the training "
            "points (how a learned model keeps a new sample between them)",
    "slide": "moving along the ridge because the tangential error outweighs the exact score's pull",
    "to a training point": "moving along the ridge with the exact score's own pull toward a training point "
                           "(memorisation)",
    "no ridge": "the ridge is not defined here (eigengap too small, or no ridge point nearby)",
}

CATEGORIES = ("copy", "new on ridge", "new off ridge", "ridge undefined")
# one colour per meaning, never reused by the phase colours above
OUTCOME_COLORS = {"copy": "#E45756", "new on ridge": "#2CA02C", "new off ridge": "#17BECF",
                  "ridge undefined": "#8C8C8C"}
OUTCOME_MEANINGS = {
    "copy": "ends on a training point: nearer to it than a third of the distance to the next one, or within "
            "the noise left at the last time",
    "new on ridge": "a new sample on the ridge of p_t at t* (where that ridge is best defined over the data)",
    "new off ridge": "a new sample away from the ridge",
    "ridge undefined": "a new sample where the ridge is not defined (the round blob around an isolated point)",
}
