"""Data and bandwidth: the dataset, the schedule, and the ridge of p_t as the bandwidth sqrt(h_t) changes."""

import streamlit as st

from ridgeviz.app import compute, export
from ridgeviz.app import sidebar as sb
from ridgeviz.app.state import guard, persistent
from ridgeviz.views import bandwidth as bw
from ridgeviz.viz import figures as viz

st.title("Data and bandwidth")
X, source, sched_cfg = sb.sidebar()

with guard("the upload"):
    up = st.file_uploader("Upload your own points (.csv, .npy or .npz; numbers only, one point per row, at most "
                          "50 MB)", type=["csv", "npy", "npz"], key="data_file")
    if up is not None and sb.accept_upload(up):
        st.rerun()
st.caption(sb.data_caption(X, source))

with guard("the bandwidth views"):
    dim = persistent(st.number_input, "ridge dimension d", "data_dim", 1, min_value=0,
                     max_value=max(X.shape[1] - 1, 0), help="1: curves joining the modes; 0: the modes")
    with st.spinner("Tracing the ridge at every bandwidth of the slider (once per dataset and schedule)..."):
        sweep = compute.bandwidth_sweep(X, sched_cfg, int(dim))
    t = persistent(st.select_slider, "time t, the bandwidth control (◆ marks the classical bandwidth rules)",
                   "data_t", bw.default_time(sweep), options=sweep.times.tolist(),
                   format_func=bw.slider_label(sweep))
    i = sweep.times.tolist().index(t)
    view = compute.density_view(X, sched_cfg, t, int(dim), sweep.bounds)
    cols = st.columns(5)
    cols[0].metric("√h_t (blur)", f"{sweep.sqrt_h[i]:.3g}")
    cols[1].metric("b = σ_t/α_t (data units)", f"{sweep.bandwidth[i]:.3g}")
    cols[2].metric("suggested ridge dim", view.suggested_dim)
    cols[3].metric("samples memorising", f"{100 * sweep.memorised[i]:.0f}%")
    cols[4].metric("ridge length", f"{sweep.ridge_length[i]:.3g}")
    fig = viz.density_figure(view.field, sweep.data, sweep.ridges[i], sweep.bounds, sweep.plane.labels,
                             title=f"p_t at t = {t:.3g}")
    st.plotly_chart(fig, key="data_density")
    st.caption("Classical bandwidths for these data: " + "; ".join(
        f"{name} b = {b:.3g}" + (f" → t = {tm:.3g}" if tm is not None else " (outside this schedule's times)")
        for name, (b, tm) in sweep.marks.items()) + ". Memorising: the nearest training point is closer than a "
        "third of the second nearest, for samples of p_t rescaled by 1/α_t.")
    st.plotly_chart(viz.bandwidth_figure(sweep, t, sweep.data), key="data_sweep")
    st.subheader("Schedule")
    schedule = sched_cfg.schedule()
    close = schedule.terminal_closeness(X)
    st.plotly_chart(viz.schedule_figure(bw.schedule_curves(schedule), t, sweep.marks), key="data_schedule")
    st.caption(f"Terminal closeness of p_T to the prior N(0, h_T I): KL ≤ {close['kl_bound']:.3g} nats, "
               f"SNR at T = {close['snr_T']:.3g}, α_T·rms|x|/σ_T = {close['signal_to_noise_radius']:.3g}.")
    export.export_row("data_bandwidth", fig, csv={f"x{j + 1}": X[:, j] for j in range(X.shape[1])},
                  config=export.config_dict(data=source, schedule=sched_cfg, ridge_dim=int(dim), t=t))
