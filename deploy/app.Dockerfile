# Touchpoint's app image: the project's package on Python 3.11. It runs the app (the default
# command) and, with another command, the action server and the one-off `touchpoint index`
# (deploy/compose.yml). Build from the repository root:
#   docker build -f deploy/app.Dockerfile -t touchpoint-app .
#
# The knowledge-base index is not built here: it is the index of the articles *published in the
# database*, which the image cannot see. The demo articles are copied in (knowledge_base/articles);
# `touchpoint index` imports them into a database that has no articles yet and builds their index
# into TOUCHPOINT_INDEX_DIR, and every action server, before it serves, reads the published
# articles and loads their build from that folder (or builds it), then follows each publication.
FROM python:3.11-slim

WORKDIR /app

# The pinned dependencies first, in a layer of their own that only pyproject.toml invalidates.
# torch 2.13.0 is the CPU build (PyTorch's own index; the one on PyPI pulls in CUDA).
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" \
    | pip install --no-cache-dir --extra-index-url https://download.pytorch.org/whl/cpu -r /dev/stdin

# The project itself, installed in place: bot/settings.py finds its data files (bot/data,
# bot/strings, bot/templates, knowledge_base/articles, ...) beside the code, so /app is its
# project root, as a checkout is for `make setup`.
COPY README.md ./
COPY bot bot
COPY actions actions
COPY knowledge_base knowledge_base
RUN pip install --no-cache-dir --no-deps -e . && touchpoint validate

# What `touchpoint run` gives every process (bot/processes.py: hermetic_env and SINGLE_THREADED),
# with the build folder at its default, /app/build: caches and temp files inside it, no telemetry,
# no model hub, one thread per model.
ENV RASA_TELEMETRY_ENABLED=false \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    MPLCONFIGDIR=/app/build/cache/matplotlib \
    KERAS_HOME=/app/build/cache/keras \
    TMPDIR=/app/build/tmp \
    TF_CPP_MIN_LOG_LEVEL=2 \
    RASA_CACHE_DIRECTORY=/app/build/cache/rasa \
    SQLALCHEMY_SILENCE_UBER_WARNING=1 \
    PYTHONUNBUFFERED=1 \
    PTB_TIMEDELTA=true \
    OMP_NUM_THREADS=1 \
    OMP_WAIT_POLICY=PASSIVE \
    TF_INTRA_OP_PARALLELISM_THREADS=1 \
    TF_INTER_OP_PARALLELISM_THREADS=1

# An unprivileged user owns the build folder and nothing else. build/index is where the action
# servers share their index builds (a volume in deploy/compose.yml takes this folder's owner).
RUN useradd --system --uid 10001 --home-dir /app/build touchpoint \
    && mkdir -p build/index build/cache/matplotlib build/cache/keras build/cache/rasa build/tmp \
    && chown -R touchpoint:touchpoint build
USER touchpoint

EXPOSE 8000 5055
# The app's /healthz, as `touchpoint run` waits for it (503 while the database, Rasa or the action
# server is down). The action server's own check is in deploy/compose.yml.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]
CMD ["python", "-m", "bot.cli", "serve", "--host", "0.0.0.0", "--port", "8000"]
