"""Trajectories: reverse-time samples reaching, aligning with and sliding along the moving ridge of p_t."""

import streamlit as st

from ridgeviz import SAMPLERS
from ridgeviz.app import compute
from ridgeviz.app import models as md
from ridgeviz.app import sidebar as sb
from ridgeviz.app.figures import presentation, show
from ridgeviz.app.io import band_columns, data_key
from ridgeviz.app.state import computed, follow_selected, guard, persistent, step
from ridgeviz.core.sampling import SAMPLER_LABELS
from ridgeviz.views.trajectories import TrajectoryConfig

st.title("Trajectories")
X, source, sched_cfg = sb.sidebar()
model_cfg = md.model_config()
st.caption(f"{sb.data_caption(X, source)} · model: {model_cfg.label()} (change it on the Score model page)")

with st.form("traj_form"):
    c = st.columns(4)
    particles = persistent(c[0].number_input, "particles", "traj_particles", 512, min_value=1, max_value=4096)
    sampler = persistent(c[1].selectbox, "sampler", "traj_sampler", "em", options=list(SAMPLERS),
                         format_func=SAMPLER_LABELS.get)
    seed = persistent(c[2].number_input, "seed", "traj_seed", 0, min_value=0, max_value=2**31 - 1)
    dim = persistent(c[3].number_input, "ridge dimension d", "traj_dim", 1, min_value=0,
                     max_value=max(X.shape[1] - 1, 0))
    c = st.columns(4)
    frames = persistent(c[0].number_input, "animation frames", "traj_frames", 100, min_value=2, max_value=200)
    tube = persistent(c[1].number_input, "tube width (x data scale)", "traj_tube", 0.1, min_value=0.001,
                      max_value=5.0, step=0.01, format="%.3f")
    ratio = persistent(c[2].number_input, "slide when |tangential drift| > r x |normal drift|, r =",
                       "traj_ratio", 1.0, min_value=0.01, max_value=100.0)
    run = st.form_submit_button("Run", type="primary")

with guard("the trajectories"):
    cfg = TrajectoryConfig(int(particles), sampler, int(seed), int(dim), int(frames), float(tube), float(ratio))
    key = (data_key(X), sched_cfg, cfg, model_cfg)
    res, stale, made_for = computed(
        "traj", key, lambda progress: compute.trajectories(X, sched_cfg, cfg, model_cfg,
                                                           model=md.model_object(model_cfg), progress=progress),
        run=run, preload=lambda: compute.demo_matches(X, sched_cfg, cfg, model_cfg), label="computing trajectories")
    if res is None:
        st.info("Press **Run** to sample trajectories with these settings.")
    else:
        if stale:
            st.warning("The settings changed since this animation was computed; press **Run** to update it.")
        last = len(res.frames) - 1
        c = st.columns([1, 1, 2, 3])
        c[0].button("◀ step", key="traj_prev", on_click=step, args=("traj_frame", -1, last))
        c[1].button("step ▶", key="traj_next", on_click=step, args=("traj_frame", 1, last))
        frame = persistent(c[2].number_input, "start at frame", "traj_frame", 0, min_value=0, max_value=last)
        follow = persistent(c[3].number_input, "follow particle (-1: none; or click a particle)",
                            "traj_follow", -1, min_value=-1, max_value=res.xs.shape[1] - 1)
        fig = compute.trajectory_figure(made_for, None if follow < 0 else int(follow), int(frame), presentation(),
                                        _res=res)
        show(fig, "traj_chart", styled=True, export="trajectories", csv=band_columns(res), npz=res.to_npz_bytes,
             config=res.config, on_select=follow_selected("traj_chart", "traj_follow"), selection_mode="points",
             theme=None)
        st.caption(f"Phase rule: {res.rule_text} (tube = {res.tube:.3g}). Distance to the ridge: "
                   f"{res.distance_kind}. View: {', '.join(res.axis_labels)}.")
