# Touchpoint's Rasa image: Rasa Open Source 3.6 on Python 3.10 with the model trained at build
# time, as `make train` trains it. Rasa's domain takes its responses from the string catalogue
# (`touchpoint domain`), which only the app image can write, so build that first:
#   docker build -f deploy/app.Dockerfile -t touchpoint-app .
#   docker build -f deploy/rasa.Dockerfile -t touchpoint-rasa .
# (deploy/compose.yml builds them in this order by itself: the `touchpoint-app` build context.)
FROM touchpoint-app AS domain
RUN touchpoint domain --out /app/build/domain.yml

FROM python:3.10-slim

WORKDIR /app

# As `make setup` builds build/rasa-env (Rasa 3.6's metadata needs a pip older than 24.1).
COPY bot/rasa-requirements.txt bot/
RUN pip install --no-cache-dir --upgrade 'pip<24.1' \
    && pip install --no-cache-dir -r bot/rasa-requirements.txt

# What `touchpoint run` gives Rasa (bot/processes.py: hermetic_env, SINGLE_THREADED and a HOME of
# its own in the build folder).
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
    TF_INTER_OP_PARALLELISM_THREADS=1 \
    HOME=/app/build/rasa-home

RUN useradd --system --uid 10001 --home-dir /app/build/rasa-home rasa \
    && mkdir -p build/models build/rasa-home build/cache/matplotlib build/cache/keras build/cache/rasa build/tmp \
    && chown -R rasa:rasa build
USER rasa

# The training data and the rendered domain; then the same `rasa train` as the Makefile's.
COPY config.yml ./
COPY bot/data bot/data
COPY --from=domain /app/build/domain.yml build/domain.yml
RUN rasa train --config config.yml --domain build/domain.yml --data bot/data \
        --out build/models --fixed-model-name touchpoint --quiet

# Channels (REST only) and the endpoints: the action server behind nginx, the shared SQL tracker
# store and Redis lock store (deploy/endpoints.yml; Rasa fills in ${POSTGRES_PASSWORD}).
COPY bot/credentials.yml bot/
COPY deploy/endpoints.yml ./endpoints.yml

EXPOSE 5005
HEALTHCHECK --interval=10s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5005/status', timeout=4)"]
CMD ["rasa", "run", "--enable-api", "--model", "/app/build/models/touchpoint.tar.gz", \
     "--endpoints", "/app/endpoints.yml", "--credentials", "/app/bot/credentials.yml", \
     "--interface", "0.0.0.0", "--port", "5005"]
