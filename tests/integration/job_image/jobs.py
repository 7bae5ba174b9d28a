"""A job written with pitmaster's job SDK, run by tests/integration/test_image.py in its own image."""

from pydantic import BaseModel

from pitmaster.job import Context, job, run


class Greeting(BaseModel):
    name: str
    times: int = 1


@job("greet")
def greet(message: Greeting, ctx: Context) -> None:
    for _ in range(message.times):
        print(f"hello {message.name} (retry {ctx.retry_count}, message {ctx.message_id})")


if __name__ == "__main__":
    run()
