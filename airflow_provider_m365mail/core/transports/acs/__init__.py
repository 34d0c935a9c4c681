"""Azure Communication Services Email over its REST API: ``payload`` builds the request, ``signing`` signs it with
an access key, ``transport`` sends it and polls the operation to its final status."""
