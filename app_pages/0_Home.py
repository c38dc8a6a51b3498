"""ridgeviz home page: what the tool shows, and a demo animation that is ready when the page opens."""

import streamlit as st

from ridgeviz.app import compute, export, state
from ridgeviz.app.sidebar import sidebar
from ridgeviz.viz.laws import shares_text

st.title("ridgeviz: where do a diffusion model's samples go?")
st.markdown(
    "A diffusion model trained on a finite set of points could only ever reproduce them: the exact score of "
    "the noised training set **memorises**. Real models generalise, and He, Qiu & Tao "
    "([arXiv 2602.06021](https://arxiv.org/abs/2602.06021)) explain where their samples land: near the "
    "**ridge** of the smoothed empirical density `p_t` (the training points blurred by the noise of time t), "
    "the curves that join nearby points along which `p_t` is highest across.\n\n"
    "Read the animation below in reverse time, from pure noise (t = T) to the data (t near 0). A sample is "
    "**blue** (reach) until it enters a tube around the ridge; **orange** (align) while, inside the tube, its "
    "distance to the ridge relaxes (for one half-life) toward the level set by the model's error *normal* to the "
    "ridge; then, step by step, **green** (slide) when the model's error *tangential* to the ridge pushes it "
    "along harder than the exact score pulls it toward the training points, and **brown** (to a training point) "
    "when that pull wins: the memorising motion, which the exact score alone makes. **Grey**: the ridge is not "
    "defined there (p_t looks like one round blob). The model's error is known exactly along each trajectory, "
    "because the exact score is. Sliding is how samples appear *between* training points. The curves on the "
    "right follow the same time: the two error components, the distance to the ridge, the share of each phase.")
X, source, sched = sidebar()
with state.guard("the demo"):
    fig = compute.demo_figure()
    st.plotly_chart(fig, key="home_anim", config={"displaylogo": False}, theme=None)
    res = compute.demo_result()
    export.export_row("home_demo", fig, csv=export.band_columns(res), npz=res.to_npz_bytes, config=res.config)
    st.caption("Demo: the 13-point set, the Ornstein-Uhlenbeck schedule, 512 samples of the reverse SDE "
               "(200 Euler-Maruyama steps) with the exact score plus an injected error of 0.5 normal and 0.5 "
               "tangential to the ridge. Phase rule: " + res.rule_text + ". Shares of all sample-steps: "
               + shares_text(res.shares.get("all", {})) + ".")
st.markdown(
    "**Next:** *Data and bandwidth* to pick a dataset and see the ridge change with the bandwidth; "
    "*Score model* to choose, train or load a model; *Trajectories* to run your own animation; "
    "*Random features* for the paper's model and its inductive biases. The sidebar's dataset and schedule "
    "are shared by every page and kept in the address bar, so a link reopens the same view.")
