"""The gateway's one GraphQL graph over the services' REST APIs (strawberry)."""
