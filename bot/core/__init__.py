"""The pure core of the bot: values in, values out; no network, no clock, no database."""
