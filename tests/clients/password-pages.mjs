// The password pages as a person meets them, in Chromium at phone width and at desktop width:
// `node password-pages.mjs ORIGIN RESET_PATH CURRENT_PASSWORD NEW_PASSWORD`. Prints one JSON
// line of what the pages showed, for the Rust test to judge.
import { chromium } from "playwright-core";

const [origin, resetPath, currentPassword, newPassword] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const seen = {};
const phone = await browser.newContext({ viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true });
const page = await phone.newPage();
const pageErrors = [];
page.on("pageerror", (error) => pageErrors.push(String(error)));
const messageOnceChecked = async () => {
  await page.waitForFunction(() => !document.getElementById("message").textContent.startsWith("Checking"));
  return page.textContent("#message");
};
const met = () =>
  page.evaluate(() => Object.fromEntries([...document.querySelectorAll("#rules li")].map((li) => [li.dataset.rule, li.classList.contains("met")])));

await page.goto(origin + "/reset-password");
seen.noToken = await messageOnceChecked();
await page.goto(origin + "/reset-password?token=not-a-real-token");
seen.badToken = await messageOnceChecked();
seen.badTokenFormHidden = await page.isHidden("#form");

await page.goto(origin + resetPath);
await page.waitForSelector("#form:not([hidden])");
seen.forWhom = await page.textContent("#for");
seen.overflows = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
seen.laterRule = await page.textContent('li[data-rule="NOT_RECENTLY_USED"]');
await page.fill("#password", "abc");
seen.metAfterAbc = await met();
const emailName = seen.forWhom.replace("For ", "").split("@")[0];
await page.fill("#password", `X9!-${emailName}-longer`);
seen.metWithEmailName = await met();
// Every in-page rule met, but it is the current password: only the server can tell.
await page.fill("#password", currentPassword);
seen.metWithCurrent = await met();
await page.click("button[type=submit]");
await page.waitForSelector("#message.error");
seen.submitError = await page.textContent("#message");
await page.type("#password", "x");
seen.messageAfterTyping = await page.textContent("#message");
await page.fill("#password", newPassword);
await page.click("button[type=submit]");
await page.waitForSelector("#message.ok");
seen.success = await page.textContent("#message");
seen.signInHref = await page.getAttribute("#sign-in", "href");

// Desktop, the same link again: used.
const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const again = await desktop.newPage();
await again.goto(origin + resetPath);
await again.waitForFunction(() => !document.getElementById("message").textContent.startsWith("Checking"));
seen.usedAgain = await again.textContent("#message");
seen.usedFormHidden = await again.isHidden("#form");
seen.pageErrors = pageErrors;
await browser.close();
console.log(JSON.stringify(seen));
