"""Trajectories: reverse-time samples reaching, aligning with and sliding along the moving ridge of p_t."""

import streamlit as st

from ridgeviz import SAMPLERS
from ridgeviz.app import budget, compute
from ridgeviz.app import models as md
from ridgeviz.app import sidebar as sb
from ridgeviz.app.fields import field_input
from ridgeviz.app.figures import presentation, show
from ridgeviz.app.io import band_columns, data_key
from ridgeviz.app.state import computed, follow_selected, guard, persistent, step
from ridgeviz.core.decomposition import DISTANCE_NOTES
from ridgeviz.core.sampling import SAMPLER_LABELS
from ridgeviz.views.budget import trajectories_cost
from ridgeviz.views.trajectories import TrajectoryConfig
from ridgeviz.viz import laws
from ridgeviz.viz.trajectories import LENGTH_NOTE, frame_count, outcome_key_markdown, outcome_text

st.title("Trajectories")
X, source, sched_cfg = sb.sidebar()
model_cfg, fallback = md.model_for(X, sched_cfg)
st.caption(f"{sb.data_caption(X, source)} · model: {md.model_label(model_cfg)} (change it on the Score model page)"
           + (f". Note: {fallback}." if fallback else ""))

T = TrajectoryConfig
with st.form("traj_form"):
    c = st.columns(4)
    v = {"particles": field_input(c[0], T, "particles", "particles", "traj_particles"),
         "sampler": persistent(c[1].selectbox, "sampler", "traj_sampler", T.sampler, options=list(SAMPLERS),
                               format_func=SAMPLER_LABELS.get),
         "seed": field_input(c[2], T, "seed", "seed", "traj_seed"),
         "dim": field_input(c[3], T, "dim", "ridge dimension d", "traj_dim", hi=max(X.shape[1] - 1, 0))}
    c = st.columns(5)
    v["frames"] = field_input(c[0], T, "frames", "animation frames", "traj_frames")
    v["tube_fraction"] = field_input(c[1], T, "tube_fraction", "tube floor (x data scale)", "traj_tube", step=0.01,
                                     format="%.3f")
    v["tube_sigmas"] = field_input(c[2], T, "tube_sigmas", "tube (x sqrt(h_t))", "traj_sigmas")
    v["align_halflives"] = field_input(c[3], T, "align_halflives", "align: excess offset halvings",
                                       "traj_halflives")
    v["hold_ratio"] = field_input(c[4], T, "hold_ratio", "held: error's push within a factor r of the exact pull, "
                                  "r =", "traj_ratio")
    run = st.form_submit_button("Run", type="primary")

with guard("the trajectories"):
    cfg = TrajectoryConfig(**v)
    key = (data_key(X), sched_cfg, cfg, model_cfg)
    model = md.model_object(model_cfg, X)
    cost = trajectories_cost(X.shape, sched_cfg, cfg, model_cfg, model)  # priced by the model actually used
    live = compute.live("trajectories", cost)
    budget.caption(cost, "These settings: estimated", "trajectories")
    seconds = budget.estimate(cost, "trajectories")
    st.caption(f"Live: a change in the sidebar reruns by itself (about {seconds:.1f} s here)." if live else
               f"A change reruns by itself when a run takes under {compute.LIVE_SECONDS:g} s here (a few hundred "
               f"particles, 100 steps; these settings: about {seconds:.1f} s); otherwise press **Run**.")
    auto = live and key != st.session_state.get("traj_key")
    if run or auto:
        budget.require(cost, "These trajectories", "the particles, the steps (sidebar), the frames or the dimension",
                       "trajectories")
    with budget.queued("the trajectories", cost, "trajectories"):
        res, stale, made_for = computed(
            "traj", key, lambda progress: compute.trajectories(X, sched_cfg, cfg, model_cfg, model=model,
                                                               progress=progress),
            run=run or auto, preload=lambda: compute.shipped_trajectories(X, sched_cfg, cfg, model_cfg) is not None,
            label="computing trajectories")
    if res is None:
        st.info("Press **Run** to sample trajectories with these settings.")
    else:
        if stale:
            st.warning("The settings changed since this animation was computed; press **Run** to update it.")
        last = frame_count(res) - 1  # the last slider step: the outcome, when the result has one
        c = st.columns([1, 1, 2, 3])
        c[0].button("◀ step", key="traj_prev", on_click=step, args=("traj_frame", -1, last))
        c[1].button("step ▶", key="traj_next", on_click=step, args=("traj_frame", 1, last))
        frame = persistent(c[2].number_input, f"start at frame (0-{last}; {last}: the outcome)", "traj_frame", 0,
                           min_value=0, max_value=last)
        follow = persistent(c[3].number_input, "follow particle (-1: none; or click a particle)",
                            "traj_follow", -1, min_value=-1, max_value=res.xs.shape[1] - 1)
        fig = compute.trajectory_figure(made_for, None if follow < 0 else int(follow), int(frame), presentation(),
                                        _res=res)
        show(fig, "traj_chart", styled=True, export="trajectories", csv=band_columns(res), npz=res.to_npz_bytes,
             config=res.config, on_select=follow_selected("traj_chart", "traj_follow"), selection_mode="points",
             still_frame=int(frame))
        if res.outcomes is not None:
            st.markdown(f"**Where the samples end** (the last frame; the rule of the home page): "
                        f"{outcome_text(res.outcome)}.\n" + outcome_key_markdown(), unsafe_allow_html=True)
        st.caption(f"{LENGTH_NOTE} Distance to the ridge: {DISTANCE_NOTES[res.distance_kind]}; curves leave out "
                   f"points where the ridge is undefined. Phase rule: {res.rule_text}. View: "
                   f"{', '.join(res.axis_labels)}.")
        st.markdown("**What each phase colour encodes** (the model's error is known exactly along every trajectory, "
                    "since the exact score is):\n" + laws.phase_key_markdown(), unsafe_allow_html=True)
        if res.shares:
            st.caption(f"Shares of all sample-steps: {laws.shares_text(res.shares['all'])}; after reach, where "
                       f"the ridge is defined: {laws.shares_text(res.shares['in_tube'])}.")
            st.markdown("**The align and slide laws**, linearised about the ridge, against measurement from the end "
                        "of each sample's align phase (up to 128 samples; ridgeviz.core.laws):")
            show(laws.law_figure(res.laws, res.law_agreement), "traj_laws", export="trajectory_laws")
            st.markdown("**Sensitivity**: phase shares with each threshold halved and doubled (same trajectories).")
            st.dataframe(laws.sensitivity_rows(res.sensitivity), hide_index=True)
