"""Play counts of videos."""
