# The chat server for any container platform (Fly.io and Railway build it; Docker, Kubernetes...).
# It installs exactly what the platforms' buildpacks install: the pinned lock, requirements.txt.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /srv/chat
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY app ./app
COPY static ./static
COPY templates ./templates

# Run as a user of its own; history goes to /data, the one place it may write.
RUN useradd --system --uid 10001 --no-create-home chat && mkdir /data && chown chat /data
USER chat
ENV CHAT_DB=/data/chat.db

EXPOSE 8000 2626
STOPSIGNAL SIGTERM
CMD ["python", "-m", "app"]
