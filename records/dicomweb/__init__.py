"""Read-only DICOMweb (PS3.18): QIDO-RS searches and WADO-RS retrieves of one case's studies,
for a bearer token scoped to one share of the case or one reviewer's assignment of it."""
