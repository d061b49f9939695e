// The demo page's little behaviour: say which srcset candidate the browser
// picked, which format and size each thumbnail came in, and keep the cache
// panel fresh from the module's status JSON. Same-origin requests only.
"use strict";

function kilobytes(bytes) {
  return bytes < 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(1)} KB`;
}

function whenLoaded(img) {
  if (img.complete) return Promise.resolve();
  return new Promise((resolve) => {
    img.addEventListener("load", resolve, { once: true });
    img.addEventListener("error", resolve, { once: true });
  });
}

// What an <img> element asks for: fetch() would send "*/*", and fm=auto
// answers by Accept.
const IMAGE_ACCEPT = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8";

// The response's type and length, from a HEAD request (the thumbnail is in
// the cache by then, so this costs what a static file costs).
async function describe(url) {
  const response = await fetch(url, { method: "HEAD", headers: { Accept: IMAGE_ACCEPT } });
  // Reading the (empty) body ends the request; an unread one is cancelled
  // later, which the browser reports as a failed load.
  await response.arrayBuffer();
  const type = response.headers.get("Content-Type") || "?";
  const length = Number(response.headers.get("Content-Length") || 0);
  const cache = response.headers.get("X-Image-Filter-Cache") || "";
  return { type, length, cache };
}

async function showPicked(img) {
  await whenLoaded(img);
  const picked = new URL(img.currentSrc, location.href);
  const line = document.createElement("span");
  line.className = "picked";
  line.dataset.picked = picked.searchParams.get("w") || "";
  const about = await describe(picked.href);
  line.textContent = `picked w=${line.dataset.picked} at ${devicePixelRatio}x: ` +
    `${about.type}, ${kilobytes(about.length)}, ${about.cache || "?"}`;
  img.closest("figure").querySelector("figcaption").append(line);
}

async function showFormat(img) {
  await whenLoaded(img);
  const about = await describe(img.currentSrc);
  img.closest("figure").querySelector(".format").textContent =
    `${about.type}, ${kilobytes(about.length)}, ${img.naturalWidth}x${img.naturalHeight}`;
}

async function showSize(span) {
  const about = await describe(span.dataset.sizeOf);
  span.textContent = `${about.type}, ${kilobytes(about.length)}`;
}

async function fetchText(url) {
  const response = await fetch(url);
  return (await response.text()).trim();
}

async function showText(element) {
  element.textContent = await fetchText(element.dataset.textOf);
}

async function showColor(swatch) {
  const colour = await fetchText(swatch.dataset.colorOf);
  swatch.style.background = colour;
  swatch.closest("figure").querySelector(".value").textContent = colour;
}

async function refreshStatus() {
  try {
    const response = await fetch("/thumbnail-status", { cache: "no-store" });
    const zones = (await response.json()).caches || {};
    const sum = (field) => Object.values(zones).reduce((n, z) => n + (z[field] || 0), 0);
    for (const dd of document.querySelectorAll("#status [data-stat]")) {
      const field = dd.dataset.stat;
      dd.textContent = field === "size" ? kilobytes(sum(field)) : String(sum(field));
    }
  } catch (e) {
    document.querySelector("#status h2 small").textContent = "(status unavailable)";
  }
}

document.querySelectorAll("img[data-srcset-test]").forEach(showPicked);
document.querySelectorAll("img[data-format]").forEach(showFormat);
document.querySelectorAll("[data-size-of]").forEach(showSize);
document.querySelectorAll("[data-text-of]").forEach(showText);
document.querySelectorAll("[data-color-of]").forEach(showColor);
refreshStatus();
setInterval(refreshStatus, 3000);
