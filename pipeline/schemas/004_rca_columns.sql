-- Columns the root-cause ranking groups by, computed once per trace by the correlation engine:
--   peer             the service a client/producer span calls (server.address, peer.service, ...)
--   service_version  the build that served the span (resource service.version), to spot deploys
--   own_error        an error none of the span's children explains (the deepest failure)
ALTER TABLE correlated_spans ADD COLUMN IF NOT EXISTS peer LowCardinality(String) DEFAULT '' AFTER kind;
ALTER TABLE correlated_spans ADD COLUMN IF NOT EXISTS service_version LowCardinality(String) DEFAULT '' AFTER peer;
ALTER TABLE correlated_spans ADD COLUMN IF NOT EXISTS own_error Bool DEFAULT false AFTER is_error;
