"""Event export: every event of the durable event stream published to NATS JetStream or RabbitMQ brokers."""
