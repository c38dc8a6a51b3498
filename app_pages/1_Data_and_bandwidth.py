"""Data and bandwidth: the dataset, the schedule, and p_t with its ridge as the bandwidth sqrt(h_t) changes."""

import streamlit as st

from ridgeviz.app import budget, compute
from ridgeviz.app import sidebar as sb
from ridgeviz.app.export import config_dict
from ridgeviz.app.figures import presentation, show
from ridgeviz.app.state import guard, persistent
from ridgeviz.views import bandwidth as bw
from ridgeviz.views.budget import bandwidth_cost

st.title("Data and bandwidth")
X, source, sched_cfg = sb.sidebar()

with guard("the upload"), st.expander("Upload your own points (.csv, .npy or .npz)"):
    up = st.file_uploader("Upload your own points (.csv, .npy or .npz; numbers only, one point per row)",
                          type=["csv", "npy", "npz"], key="data_file", help=budget.upload_limits())
    st.caption(f"Limits: {budget.upload_limits()}.")
    if up is not None and sb.accept_upload(up):
        st.rerun()
st.caption(sb.data_caption(X, source) + ". Drag the slider under the density (or press **Play**): it scrubs the time "
           "t, that is the blur √h_t, in the browser; ◆ marks a classical bandwidth rule's step.")

with guard("the bandwidth views"):
    c = st.columns([1, 3])
    dim = persistent(c[0].number_input, "ridge dimension d", "data_dim", 1, min_value=0,
                     max_value=max(X.shape[1] - 1, 0), help="1: curves joining the modes; 0: the modes")
    data_units = persistent(c[1].toggle, "data units x / α_t (the training points sit on their own density)",
                            "data_units", True, help="off: the diffusion's own coordinates x, where p_t is centred "
                            "on α_t x_i and the crosses move toward 0 as t grows")
    units = "data" if data_units else "diffusion"
    cost = bandwidth_cost(X.shape)
    if not budget.gate(("data", compute.data_key(X), sched_cfg, int(dim), units), cost, "the bandwidth views",
                       "the number of points or the dimension (sidebar)", "bandwidth views",
                       ready=compute.bandwidth_ready(X, sched_cfg, int(dim), units)):
        st.stop()
    with budget.queued("the bandwidth views", cost, "bandwidth views"):
        sweep, fig = compute.bandwidth(X, sched_cfg, int(dim), units, presentation())
    show(fig, "data_density", styled=True, export="data_bandwidth", csv=bw.sweep_table(sweep),
         config=config_dict(data=source, schedule=sched_cfg, ridge_dim=int(dim), units=units))
    st.caption("Classical bandwidths for these data: " + "; ".join(
        f"{name} b = {b:.3g}" + (f" → t = {tm:.3g}" if tm is not None else " (outside this schedule's times)")
        for name, (b, tm) in sweep.marks.items()) + ". Memorising: the nearest training point is closer than a "
        "third of the second nearest, for samples of p_t rescaled by 1/α_t. Ridge length in data units.")
    close = sched_cfg.schedule().terminal_closeness(X)
    st.caption(f"Terminal closeness of p_T to the prior N(0, h_T I): KL ≤ {close['kl_bound']:.3g} nats, "
               f"SNR at T = {close['snr_T']:.3g}, α_T·rms|x|/σ_T = {close['signal_to_noise_radius']:.3g}.")
