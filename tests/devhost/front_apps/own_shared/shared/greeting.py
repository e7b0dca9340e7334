def greet(name: str) -> str:
    return f"Hello, {name}, from the app's own shared package"
