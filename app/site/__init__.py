"""The page's assets: static files served with caching that matches how the page links them. (The
ASGI app that serves the page is ``app.asgi``, the entry point deployments name.)"""
