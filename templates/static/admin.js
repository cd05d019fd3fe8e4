// Copy buttons of the admin pages: <button data-copy="text">. The pages
// work without it; this only saves selecting the callback URL by hand.
for (const b of document.querySelectorAll("button[data-copy]")) {
  b.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(b.dataset.copy);
      b.textContent = "Copied";
    } catch {
      b.textContent = "Select and copy";
    }
  });
}
