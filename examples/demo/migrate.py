"""A one-shot task: runs once the database is ready, and must finish before the API starts."""
import time

for step in ["create table users", "create table orders", "add index orders_by_user"]:
    print(f"migrate: {step}")
    time.sleep(0.1)
print("migrate: schema is up to date")
