"""Drive Debian's chromium (headless) through Selenium: open the app, upload, analyse.

Used by the browser tests and by ``tools/app_screenshot.py``; Selenium talks to
``/usr/bin/chromedriver`` directly, so nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

CHROMIUM, DRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def chromium(*flags: str):
    """A headless chromium WebDriver with extra command-line ``flags``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        *flags,
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(str(DRIVER)), options=options)


def analyse(driver, url: str, image: Path, timeout: float = 60):
    """Open the app, upload ``image``, press Analyse; return the findings table and overlay."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout)
    driver.get(url)
    # The button is drawn by the app's scripts: once it is clickable the upload
    # field listens too (a file sent earlier can be dropped).
    button = wait.until(
        seen.element_to_be_clickable((By.XPATH, "//button[normalize-space()='Analyse']"))
    )
    driver.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(image))
    wait.until(lambda d: image.name in d.page_source)  # the upload arrived
    button.click()
    table = wait.until(seen.presence_of_element_located((By.CSS_SELECTOR, "table.cxr-findings")))
    overlay = wait.until(
        seen.presence_of_element_located((By.CSS_SELECTOR, "img[src*='gradio_api/file']"))
    )
    wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", overlay) > 0)
    return table, overlay


#: Reads, from the page's ``window.cxrCharts`` (.dvc/plots/offline.html), each chart's
#: title, its colour scale's domain and the colour of every domain value, and its y extent.
CHART_SCALES = """
return window.cxrCharts.map(function (chart) {
    const view = chart.view, out = {id: chart.id, title: null, colours: {}, y: null};
    try { out.title = view.signal('title') || null; } catch (e) {}
    try {
        const colour = view.scale('color');
        colour.domain().forEach(function (d) { out.colours[d] = colour(d); });
    } catch (e) {}
    try { out.y = view.scale('y').domain(); } catch (e) {}
    return out;
});
"""


def render_plots(driver, page: Path, timeout: float = 60) -> list[dict]:
    """Open a ``dvc plots show`` page and wait until every chart has rendered; return
    :data:`CHART_SCALES` for each chart."""
    from selenium.webdriver.support.ui import WebDriverWait

    expected = page.read_text().count("vegaEmbed('#")
    driver.get(page.as_uri())
    WebDriverWait(driver, timeout).until(
        lambda d: d.execute_script("return (window.cxrCharts || []).length") >= expected
    )
    return driver.execute_script(CHART_SCALES)
