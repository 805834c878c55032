"""Loopback emulators of Discord, YouTube, X and OpenAI for tests and benchmarks.

Each emulator is a small aiohttp server on 127.0.0.1 with a random port. The real clients
(discord.py, httpx, tweepy, openai) talk to it unmodified; only base-URL settings change.
"""
