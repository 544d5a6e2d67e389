"""The one settings object: every knob comes from `DESCENT_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Service configuration; read it through `get_settings()`, never from os.environ."""

    model_config = SettingsConfigDict(env_prefix="DESCENT_", env_file=".env", extra="ignore")

    # Where things live. The defaults are the embedded mode: SQLite + a file broker.
    data_dir: Path = Path("descent-data")
    database_url: str = ""  # empty: sqlite:///<data_dir>/descent.db
    broker_url: str = ""  # empty: filesystem broker under <data_dir>/broker
    auth_enabled: bool = True
    local_owner: str = "local"  # owner of everything when auth is off
    cors_origins: list[str] = []
    # More model kinds: modules (dotted names) that register a KindAdapter when imported,
    # loaded by the API and the workers alike (see descent_server/services/kinds/).
    kind_modules: list[str] = []

    # Workers.
    keras_backend: str = "tensorflow"  # tensorflow | jax | torch
    worker_queues: str = "cpu"  # comma separated: cpu, gpu
    gpu_workers: bool = False  # True when gpu workers exist: device=auto may route there
    gpu_min_samples: int = 200_000  # MLP jobs at least this big (rows x epochs) go to gpu
    # A worker's GPUs, exported as CUDA_VISIBLE_DEVICES ("0", "1,2"; "" hides every GPU);
    # None leaves the variable as the environment has it (e.g. set by the container runtime).
    gpu_visible_devices: str | None = None
    worker_max_tasks_per_child: int = 50
    # Training is batch work: the worker lowers its CPU priority by this much (0-19), so that
    # on a shared machine the API and the database get the cores first (polls stay fast).
    worker_nice: int = 10
    heartbeat_interval_s: float = 2.0
    lease_timeout_s: float = 30.0  # a running run whose heartbeat is older is taken over
    requeue_after_s: float = 30.0  # a queued run not picked up by then is enqueued again
    recovery_interval_s: float = 5.0  # how often each worker runs lease recovery
    max_attempts: int = 3
    history_flush_s: float = 0.2  # the worker writes buffered epochs at least this often
    history_flush_rows: int = 5000

    # Limits, enforced before the work is done.
    max_upload_bytes: int = 50 * 1024 * 1024
    max_request_bytes: int = 1024 * 1024  # every JSON body (uploads have their own limit)
    max_rows: int = 1_000_000
    max_columns: int = 100
    max_field_length: int = 256
    max_epochs_regression: int = 1_000_000
    max_epochs_mlp: int = 10_000
    max_hidden_layers: int = 8
    max_layer_width: int = 4096
    max_full_weights: int = 100_000
    max_surface_points: int = 500  # per axis
    max_snapshot_resolution: int = 400
    max_image_px: int = 2000
    max_concurrent_runs: int = 20  # queued + running, per owner
    max_sweep_runs: int = 100
    submit_rate_per_minute: int = 600  # run submissions per key
    history_page_limit: int = 10_000
    plot_cache_entries: int = 256

    # Cost bounds: what one request or run may cost, checked before the work starts.
    # Pictures render in a pool of their own processes, never in the request threadpool.
    render_processes: int = 2
    render_timeout_s: float = 30.0  # a render still going by then is killed: 503
    render_per_owner: int = 2  # concurrent renders (queued or drawing) per owner
    max_render_pixels: int = 50_000_000  # width x height x frames of one picture
    # Predict: rows x parameters of one request, computed in float32 batches.
    max_predict_rows: int = 10_000  # a 1 MB body holds ~100k numbers: parsing them is the cost
    max_predict_cells: int = 200_000_000  # rows x model parameters
    predict_batch_rows: int = 4096
    # A run's estimated cost: rows x parameters x epochs (multiply-adds), refused above.
    max_run_cost: float = 5e12
    max_run_stored_bytes: int = 512 * 1024 * 1024  # history incl. weights: "full"
    task_soft_time_limit_s: int = 6 * 3600  # the run fails as "time_limit" after this
    # An LR range test is at most 10,000 batches: its own, shorter limits (hard = soft + 60).
    lr_range_soft_time_limit_s: int = 1800
    task_time_limit_s: int = 6 * 3600 + 60  # the pool child is killed after this
    cancel_check_s: float = 0.5  # cancel is checked inside an epoch at least this often
    history_page_bytes: int = 32 * 1024 * 1024  # a history page's rows (weights "full": fewer)
    # Bytes of max_points views kept per API process (a dashboard re-asks the same one); 0: off.
    history_view_cache_bytes: int = 32 * 1024 * 1024
    # Per-owner quotas and shared (database-backed, all processes) rate limits.
    max_owner_dataset_bytes: int = 2 * 1024 * 1024 * 1024  # uploaded datasets, stored
    max_owner_stored_bytes: int = 20 * 1024 * 1024 * 1024  # run histories, estimated
    upload_rate_per_minute: int = 30
    export_rate_per_minute: int = 60  # data.csv, history csv, model downloads
    render_rate_per_minute: int = 300
    predict_rate_per_minute: int = 300

    def resolved_database_url(self) -> str:
        """Return the database URL, defaulting to the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'descent.db').resolve()}"

    def resolved_broker_url(self) -> str:
        """Return the broker URL, defaulting to the embedded file broker."""
        return self.broker_url or "filesystem://localhost/"  # a host: kombu warns without one

    @property
    def embedded(self) -> bool:
        """True when running on SQLite (the zero-setup mode)."""
        return self.resolved_database_url().startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (cached; tests call `get_settings.cache_clear()`)."""
    return Settings()
