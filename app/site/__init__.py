"""The web page's side of the site: its static assets, served with caching that matches how the
page links them. (The ASGI app itself is ``app.asgi``, the entry point deployments name.)"""
