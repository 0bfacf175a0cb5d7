"""Static files of the web page (index.html, app.js, style.css); no Python here."""
