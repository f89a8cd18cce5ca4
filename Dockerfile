# Tuner on a GPU (or CPU) machine, and the Docker variant of a Hugging Face Space.
#   docker build -t tuner . && docker run --gpus all -p 7860:7860 -v tuner-runs:/data tuner
# Runs are kept in /data/tuner-runs when /data is mounted and writable (Spaces persistent storage), else in
# /home/user/app/runs; set TUNER_RUNS_DIR to choose. tests/test_dockerfile.py runs these same steps in a clean venv.
# Private by default: the app listens on 0.0.0.0, so without a login each browser sees only its own runs (an id in a
# cookie). Add -e TUNER_AUTH=user:password[,user2:pw2] to require a login (each user sees their own runs), or
# -e TUNER_SHARED=1 for a trusted team that shares every run. The first line the app prints says which it is.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates fonts-wqy-microhei && rm -rf /var/lib/apt/lists/*

# Spaces run containers as uid 1000; so does this image.
RUN useradd --create-home --uid 1000 user
RUN mkdir -p /data && chown user /data
USER user
ENV HOME=/home/user VENV=/home/user/venv
ENV PATH=/home/user/venv/bin:$PATH TUNER_HOST=0.0.0.0 TUNER_PORT=7860 GRADIO_ANALYTICS_ENABLED=False HF_EVALUATE_OFFLINE=1
WORKDIR /home/user/app

# On Linux the PyPI torch wheel pinned in requirements.txt is the CUDA build.
COPY --chown=user requirements.txt requirements.txt
RUN python3 -m venv $VENV && $VENV/bin/python -m pip install --no-cache-dir -r requirements.txt
COPY --chown=user . .

EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=10s --start-period=180s --retries=3 CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:7860/', timeout=8).status == 200 else 1)"
CMD ["python", "app.py"]
