-- The HSDS 3.0 directory (plus the 3.1 tables url, unit, service_capacity).
-- One table per HSDS object; columns are the datapackage fields, in its order.
-- Strings, dates (YYYY-MM-DD), times (HH:MM:SS) and datetimes (RFC 3339, UTC) are TEXT;
-- numbers are REAL. `extra` keeps extension properties of JSON imports (e.g. name_es) as JSON.
-- Foreign keys are deferred so that one import transaction may write rows in any order;
-- the importer checks references itself first so that errors can name file, row and field.

CREATE TABLE organization (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  alternate_name TEXT,
  description TEXT NOT NULL,
  email TEXT,
  website TEXT,
  tax_status TEXT,
  tax_id TEXT,
  year_incorporated REAL,
  legal_status TEXT,
  logo TEXT,
  uri TEXT,
  parent_organization_id TEXT,
  extra TEXT
);

CREATE TABLE program (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  name TEXT NOT NULL,
  alternate_name TEXT,
  description TEXT NOT NULL,
  extra TEXT,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE service (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  program_id TEXT,
  name TEXT NOT NULL,
  alternate_name TEXT,
  description TEXT,
  url TEXT,
  email TEXT,
  status TEXT NOT NULL CHECK (status IN ('active','inactive','defunct','temporarily closed')),
  interpretation_services TEXT,
  application_process TEXT,
  fees_description TEXT,
  wait_time TEXT,
  fees TEXT,
  accreditations TEXT,
  eligibility_description TEXT,
  minimum_age REAL,
  maximum_age REAL,
  assured_date TEXT,
  assurer_email TEXT,
  licenses TEXT,
  alert TEXT,
  last_modified TEXT,
  extra TEXT,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (program_id) REFERENCES program(id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE attribute (
  id TEXT PRIMARY KEY NOT NULL,
  link_id TEXT NOT NULL,
  taxonomy_term_id TEXT NOT NULL,
  link_type TEXT,
  link_entity TEXT NOT NULL,
  value TEXT,
  extra TEXT,
  FOREIGN KEY (taxonomy_term_id) REFERENCES taxonomy_term(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE service_at_location (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT NOT NULL,
  location_id TEXT NOT NULL,
  description TEXT,
  extra TEXT,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE location (
  id TEXT PRIMARY KEY NOT NULL,
  location_type TEXT NOT NULL,
  url TEXT,
  organization_id TEXT,
  name TEXT,
  alternate_name TEXT,
  description TEXT,
  transportation TEXT,
  latitude REAL,
  longitude REAL,
  external_identifier TEXT,
  external_identifier_type TEXT,
  extra TEXT,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE phone (
  id TEXT PRIMARY KEY NOT NULL,
  location_id TEXT,
  service_id TEXT,
  organization_id TEXT,
  contact_id TEXT,
  service_at_location_id TEXT,
  number TEXT NOT NULL,
  extension REAL,
  type TEXT,
  description TEXT,
  extra TEXT,
  FOREIGN KEY (contact_id) REFERENCES contact(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_at_location_id) REFERENCES service_at_location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE contact (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT,
  service_id TEXT,
  service_at_location_id TEXT,
  location_id TEXT,
  name TEXT,
  title TEXT,
  department TEXT,
  email TEXT,
  extra TEXT,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_at_location_id) REFERENCES service_at_location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE address (
  id TEXT PRIMARY KEY NOT NULL,
  location_id TEXT,
  attention TEXT,
  address_1 TEXT NOT NULL,
  address_2 TEXT,
  city TEXT NOT NULL,
  region TEXT,
  state_province TEXT NOT NULL,
  postal_code TEXT NOT NULL,
  country TEXT NOT NULL,
  address_type TEXT NOT NULL,
  extra TEXT,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE schedule (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT,
  location_id TEXT,
  service_at_location_id TEXT,
  valid_from TEXT,
  valid_to TEXT,
  dtstart TEXT,
  timezone REAL,
  until TEXT,
  count REAL,
  wkst TEXT,
  freq TEXT,
  interval REAL,
  byday TEXT,
  byweekno TEXT,
  bymonthday TEXT,
  byyearday TEXT,
  description TEXT,
  opens_at TEXT,
  closes_at TEXT,
  schedule_link TEXT,
  attending_type TEXT,
  notes TEXT,
  extra TEXT,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_at_location_id) REFERENCES service_at_location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE funding (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT,
  service_id TEXT,
  source TEXT,
  extra TEXT,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE service_area (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT,
  name TEXT,
  description TEXT,
  extent TEXT,
  extent_type TEXT,
  uri TEXT,
  extra TEXT,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE required_document (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT,
  document TEXT,
  uri TEXT,
  extra TEXT,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE language (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT,
  location_id TEXT,
  phone_id TEXT,
  name TEXT,
  code TEXT,
  note TEXT,
  extra TEXT,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (phone_id) REFERENCES phone(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE accessibility (
  id TEXT PRIMARY KEY NOT NULL,
  location_id TEXT,
  description TEXT,
  details TEXT,
  url TEXT,
  extra TEXT,
  FOREIGN KEY (location_id) REFERENCES location(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE taxonomy_term (
  id TEXT PRIMARY KEY NOT NULL,
  code TEXT,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  parent_id TEXT,
  taxonomy TEXT,
  language TEXT,
  taxonomy_id TEXT,
  term_uri TEXT,
  extra TEXT,
  FOREIGN KEY (taxonomy_id) REFERENCES taxonomy(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE metadata (
  id TEXT PRIMARY KEY NOT NULL,
  resource_id TEXT NOT NULL,
  resource_type TEXT NOT NULL,
  last_action_date TEXT NOT NULL,
  last_action_type TEXT NOT NULL,
  field_name TEXT NOT NULL,
  previous_value TEXT NOT NULL,
  replacement_value TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  extra TEXT
);

CREATE TABLE meta_table_description (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT,
  language TEXT,
  character_set TEXT,
  extra TEXT
);

CREATE TABLE cost_option (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT NOT NULL,
  valid_from TEXT,
  valid_to TEXT,
  option TEXT,
  currency TEXT,
  amount REAL,
  amount_description TEXT,
  extra TEXT,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE organization_identifier (
  id TEXT PRIMARY KEY NOT NULL,
  organization_id TEXT NOT NULL,
  identifier_scheme TEXT,
  identifier_type TEXT NOT NULL,
  identifier TEXT NOT NULL,
  extra TEXT,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE taxonomy (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  description TEXT NOT NULL,
  uri TEXT,
  version TEXT,
  extra TEXT
);

CREATE TABLE unit (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  scheme TEXT,
  identifier TEXT,
  uri TEXT,
  extra TEXT
);

CREATE TABLE url (
  id TEXT PRIMARY KEY NOT NULL,
  label TEXT,
  url TEXT NOT NULL,
  organization_id TEXT,
  service_id TEXT NOT NULL,
  extra TEXT,
  FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE service_capacity (
  id TEXT PRIMARY KEY NOT NULL,
  service_id TEXT NOT NULL,
  unit_id TEXT NOT NULL,
  available REAL NOT NULL,
  maximum REAL,
  description TEXT,
  updated TEXT NOT NULL,
  extra TEXT,
  FOREIGN KEY (service_id) REFERENCES service(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  FOREIGN KEY (unit_id) REFERENCES unit(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX program_organization_id ON program(organization_id);
CREATE INDEX service_organization_id ON service(organization_id);
CREATE INDEX service_program_id ON service(program_id);
CREATE INDEX attribute_taxonomy_term_id ON attribute(taxonomy_term_id);
CREATE INDEX service_at_location_service_id ON service_at_location(service_id);
CREATE INDEX service_at_location_location_id ON service_at_location(location_id);
CREATE INDEX location_organization_id ON location(organization_id);
CREATE INDEX phone_contact_id ON phone(contact_id);
CREATE INDEX phone_location_id ON phone(location_id);
CREATE INDEX phone_organization_id ON phone(organization_id);
CREATE INDEX phone_service_id ON phone(service_id);
CREATE INDEX phone_service_at_location_id ON phone(service_at_location_id);
CREATE INDEX contact_location_id ON contact(location_id);
CREATE INDEX contact_organization_id ON contact(organization_id);
CREATE INDEX contact_service_id ON contact(service_id);
CREATE INDEX contact_service_at_location_id ON contact(service_at_location_id);
CREATE INDEX address_location_id ON address(location_id);
CREATE INDEX schedule_location_id ON schedule(location_id);
CREATE INDEX schedule_service_id ON schedule(service_id);
CREATE INDEX schedule_service_at_location_id ON schedule(service_at_location_id);
CREATE INDEX funding_organization_id ON funding(organization_id);
CREATE INDEX funding_service_id ON funding(service_id);
CREATE INDEX service_area_service_id ON service_area(service_id);
CREATE INDEX required_document_service_id ON required_document(service_id);
CREATE INDEX language_location_id ON language(location_id);
CREATE INDEX language_phone_id ON language(phone_id);
CREATE INDEX language_service_id ON language(service_id);
CREATE INDEX accessibility_location_id ON accessibility(location_id);
CREATE INDEX taxonomy_term_taxonomy_id ON taxonomy_term(taxonomy_id);
CREATE INDEX cost_option_service_id ON cost_option(service_id);
CREATE INDEX organization_identifier_organization_id ON organization_identifier(organization_id);
CREATE INDEX url_organization_id ON url(organization_id);
CREATE INDEX url_service_id ON url(service_id);
CREATE INDEX service_capacity_service_id ON service_capacity(service_id);
CREATE INDEX service_capacity_unit_id ON service_capacity(unit_id);
CREATE INDEX attribute_link_id ON attribute(link_id);
CREATE INDEX metadata_resource_id ON metadata(resource_id);
CREATE INDEX taxonomy_term_parent_id ON taxonomy_term(parent_id);
CREATE INDEX service_last_modified ON service(last_modified);
