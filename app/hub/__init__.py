"""The hub and its moderation desk: admission and the handshake budget, applying the domain's
outcomes, presence notices, protected nicks, standing and the password checks. Modules are imported
by their full path (``app.hub.core``, ``app.hub.desk``): this file re-exports nothing."""
