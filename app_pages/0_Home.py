"""ridgeviz home page: memorisation beside generalisation, ready when the page opens (no torch, no compute)."""

import streamlit as st

from ridgeviz.app import budget
from ridgeviz.app import side_by_side as home
from ridgeviz.app.export import config_dict
from ridgeviz.app.fields import field_input
from ridgeviz.app.figures import presentation, show
from ridgeviz.app.state import guard, persistent
from ridgeviz.views import side_by_side as sbs

st.title("ridgeviz: where do a diffusion model's samples go?")
st.markdown(
    "A diffusion model trained on a finite set of points could only ever reproduce them: the exact score of "
    "the noised training set **memorises**. Real models generalise, and He, Qiu & Tao "
    "([arXiv 2602.06021](https://arxiv.org/abs/2602.06021)) explain where their samples land: near the "
    "**ridge** of the smoothed empirical density `p_t` (the training points blurred by the noise of time t), "
    "the curves that join nearby points along which `p_t` is highest across.\n\n"
    "Below, two score models start from **the same noise** and run the reverse diffusion in lockstep, from pure "
    "noise (t = T) to the data (t near 0): press **Play** or drag the slider. Each sample keeps the colour of "
    "where it ends: a **copy** of a training point (red), a **new sample on the ridge** (green), **new off the "
    "ridge** (orange), or grey where the ridge is undefined. The purple curve is the ridge of p_t at the time shown.")

with st.expander("Compare other models"):
    pairs = home.shipped_pairs()
    c = st.columns(4)
    dataset = persistent(c[0].selectbox, "dataset", "home_dataset", sbs.HOME.dataset, options=sorted(pairs))
    choices = [sbs.EXACT] + pairs.get(dataset, [])
    left = persistent(c[1].selectbox, "left model", "home_left", sbs.EXACT, options=choices,
                      format_func=sbs.model_label)
    right = persistent(c[2].selectbox, "right model", "home_right", choices[-1], options=choices,
                       format_func=sbs.model_label)
    seed = field_input(c[3], sbs.SideBySideConfig, "seed", "seed", "home_seed")
    c = st.columns(2)
    if c[0].button("Run", key="home_run", type="primary"):
        with guard("the comparison"):
            pair = sbs.SideBySideConfig(dataset=dataset, left=left, right=right, seed=int(seed))
            budget.require(home.cost(pair), "This comparison", "the particles or the steps", "comparison")
            st.session_state["home_cfg"] = pair
    if c[1].button("Back to the default pair", key="home_default"):
        st.session_state.pop("home_cfg", None)

with guard("the side-by-side view"):
    cfg = st.session_state.get("home_cfg", sbs.HOME)
    with budget.queued("the comparison", home.cost(cfg), kind="comparison",
                       on_cancel=lambda: st.session_state.pop("home_cfg", None)):
        res = home.result(cfg)
    show(home.figure(cfg, presentation(), _res=res), "home_side_by_side", styled=True, export="side_by_side",
         config=config_dict(pair=cfg, b_eval=res.b_eval, tube=res.tube), still_frame=-1)  # images: the end
    st.caption(
        f"{len(res.category[0])} samples per model (up to {home.FIGURE['max_points']} drawn), the same prior draw "
        f"and the same Euler-Maruyama noise; {cfg.steps} steps of the reverse SDE. Outcome rule (the reproduction's): "
        f"{res.config.get('rule', '')}; the dashed curve is that ridge (bandwidth b = {res.b_eval:.2g}, where it is "
        "best defined over the training points).")

st.markdown(
    "**Next:** *Data and bandwidth* scrubs the bandwidth and shows how the ridge and memorisation change with it; "
    "*Score model* chooses, trains or loads a model; *Random features* shows the paper's model and its inductive "
    "biases; *Trajectories* animates your own run, each sample coloured by its phase (reach, align, held, slide, "
    "to a training point; the key is printed under the figure) and, at the last frame, by the same outcome as here. "
    "The dataset and schedule in the sidebar of those pages are shared and kept in the address bar, so a link "
    "reopens the same view.")
