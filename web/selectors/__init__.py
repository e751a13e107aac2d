"""web's own reads: what a page shows that no app's selectors answer (one module per subject)."""
