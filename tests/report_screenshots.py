"""Headless-Chromium screenshots of a built report: its first page (the answers), the first
subject's overview (0 Overview), the methods and provenance page, and one partition flatmap.

    python tests/report_screenshots.py WORKDIR [OUT_DIR]   (WORKDIR holds report.html)

Serves WORKDIR on a loopback http.server, as the report's viewer links need.
"""
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__))]
import browser  # noqa: E402


def _open_item(page, url, category, subcategory):
    page.goto(url + "report.html")
    page.wait_for_timeout(1500)
    page.get_by_text(category).first.click()
    page.wait_for_timeout(500)
    page.locator("nav").get_by_text(subcategory, exact=True).first.click()
    page.wait_for_timeout(500)
    page.locator("table a").first.click()      # the item's 'view' button
    page.wait_for_timeout(1000)
    for button in page.locator('a[type="button"]').all():   # hide the menu: the page gets the full width
        box = button.bounding_box()
        if box and 0 <= box["x"] < 1280 and 0 <= box["y"] < 60:
            button.click()
            break
    page.wait_for_timeout(1500)


def main(workdir, out_dir="/tmp/report_shots", subject="demo", pair="Conv1+Conv5", kind="unique_b"):
    os.makedirs(out_dir, exist_ok=True)
    shots = []
    with browser.serve(workdir) as url, browser.browser_page(1280, 1000) as page:
        page.goto(url + "report.html")
        page.locator("section.em-answers").first.wait_for(state="visible", timeout=30000)
        page.wait_for_timeout(500)
        shots.append(os.path.join(out_dir, "report_first_page.png"))
        page.screenshot(path=shots[-1])
        _open_item(page, url, "0 Overview", subject)
        shots.append(os.path.join(out_dir, "report_overview.png"))
        page.screenshot(path=shots[-1])
        frame = page.frame_locator("iframe")
        frame.locator("input.em-roi-filter").fill("FFA-1")
        page.wait_for_timeout(500)
        shots.append(os.path.join(out_dir, "report_overview_filtered_FFA-1.png"))
        page.screenshot(path=shots[-1])
        _open_item(page, url, "0 Overview", "Methods and provenance")
        shots.append(os.path.join(out_dir, "report_provenance.png"))
        page.screenshot(path=shots[-1])
        page.goto(url + f"results/{subject}/maps/partition/{pair}/{kind}.png")
        page.wait_for_timeout(1000)
        shots.append(os.path.join(out_dir, f"partition_{pair}_{kind}.png"))
        page.screenshot(path=shots[-1], full_page=True)
    return shots


if __name__ == "__main__":
    print("\n".join(main(*sys.argv[1:])))
