// Moving between the console's pages (hash routes, so the server serves one page).
export const go = (hash: string): void => {
  location.hash = hash
}
