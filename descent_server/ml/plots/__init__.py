"""PNG and GIF renderers of the pure core (matplotlib object API on Agg, no pyplot).

Every function returns image bytes of exactly `width` × `height` pixels and is safe to
call from several threads (renders are serialised by one lock).
"""

from descent_server.ml.plots.boundary import (
    boundary_gif,
    boundary_plot,
    boundary_title,
    class_colors,
)
from descent_server.ml.plots.compare import compare_loss_plot
from descent_server.ml.plots.curves import (
    divergence_label,
    loss_plot,
    params_plot,
    sweep_loss_plot,
)
from descent_server.ml.plots.lr_range import lr_range_plot
from descent_server.ml.plots.mlp_fit import fit_title, mlp_fit_gif, mlp_fit_plot
from descent_server.ml.plots.parallel import parallel_plot
from descent_server.ml.plots.regression import SurfaceLike, contour_plot, fit_plot, surface_plot

__all__ = [
    "SurfaceLike",
    "boundary_gif",
    "boundary_plot",
    "boundary_title",
    "class_colors",
    "compare_loss_plot",
    "contour_plot",
    "divergence_label",
    "fit_plot",
    "fit_title",
    "loss_plot",
    "lr_range_plot",
    "mlp_fit_gif",
    "mlp_fit_plot",
    "parallel_plot",
    "params_plot",
    "surface_plot",
    "sweep_loss_plot",
]
