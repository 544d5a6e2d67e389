# descent server image. `VARIANT=gpu` swaps tensorflow-cpu for the CUDA build of TensorFlow
# (docker compose builds it for the worker-gpu service).
FROM python:3.11-slim

ARG VARIANT=cpu
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DESCENT_DATA_DIR=/data

WORKDIR /app
COPY pyproject.toml README.md* ./
COPY descent_server ./descent_server
RUN pip install ".[flower]" \
 && if [ "$VARIANT" = "gpu" ]; then \
        tf_version="$(pip show tensorflow-cpu | sed -n 's/^Version: //p')"; \
        pip uninstall -y tensorflow-cpu \
        && pip install "tensorflow[and-cuda]==${tf_version}"; \
    fi \
 && useradd --create-home --uid 1000 descent \
 && mkdir -p /data && chown descent /data

USER descent
EXPOSE 8000
CMD ["descent-server", "api", "--host", "0.0.0.0", "--port", "8000"]
