"""/tweet: a host's own tweet for an episode. Every command acts on the caller's tweet only."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import post_now_text
from bot.tweets import TweetPreview
from cogs.answers import acknowledge, acknowledge_update, answer, opens_modal, update
from cogs.checks import host_only, host_or_former_host, is_host, rate_limited, services_of
from cogs.render import preview_embed
from cogs.ui import OnAirModal, OwnedView, episode_autocomplete

FALLBACK_NOTE = (
    "AI drafting was unavailable, so this is a template draft: edit it to make it yours."
)


class EditTweetModal(OnAirModal, title="Edit your tweet"):
    text: discord.ui.TextInput[EditTweetModal] = discord.ui.TextInput(
        label="Tweet (the stream link is added after it)",
        style=discord.TextStyle.paragraph,
        max_length=1000,
    )

    def __init__(self, episode_id: int, current: str, *, from_preview: bool = False) -> None:
        super().__init__(updates_message=from_preview)
        self.episode_id = episode_id
        self.from_preview = from_preview
        self.text.default = current[:1000]

    async def on_submit(self, interaction: discord.Interaction) -> None:
        preview = await services_of(interaction).tweets.edit(
            interaction.guild_id or 0, interaction.user.id, str(self.episode_id), self.text.value
        )
        embed, view = preview_embed(preview, "Saved."), TweetControls(interaction, preview)
        if self.from_preview:  # opened from a preview's Edit button: update that preview
            await update(interaction, embed=embed, view=view)
        else:
            await answer(interaction, "Saved.", embed=embed, view=view)


class TweetControls(OwnedView):
    """Approve, Enable/Disable, Edit, Regenerate and the stream link under a preview; only its
    host can press them."""

    def __init__(self, origin: discord.Interaction, preview: TweetPreview) -> None:
        super().__init__(origin.user, origin)
        self.episode = str(preview.episode_id)
        changeable = preview.status == "pending"
        self.toggle.label = "Disable" if preview.enabled else "Enable"
        self.toggle.style = (
            discord.ButtonStyle.secondary if preview.enabled else discord.ButtonStyle.success
        )
        self.link.label = "Remove link" if preview.include_url else "Add link"
        for item in (self.toggle, self.edit, self.regenerate, self.link):
            item.disabled = not changeable
        if preview.approved or not changeable:
            self.remove_item(self.approve)

    def modal_items(self) -> tuple[discord.ui.Item[TweetControls], ...]:
        return (self.edit,)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await super().interaction_check(interaction) and await is_host(interaction)

    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success)
    async def approve(
        self, interaction: discord.Interaction, button: discord.ui.Button[TweetControls]
    ) -> None:
        preview = await services_of(interaction).tweets.approve(
            interaction.guild_id or 0, interaction.user.id, self.episode
        )
        await update(
            interaction,
            embed=preview_embed(preview, "Approved."),
            view=TweetControls(interaction, preview),
        )
        self.stop()

    @discord.ui.button(label="Disable", style=discord.ButtonStyle.secondary)
    async def toggle(
        self, interaction: discord.Interaction, button: discord.ui.Button[TweetControls]
    ) -> None:
        enable = button.label == "Enable"
        preview = await services_of(interaction).tweets.set_enabled(
            interaction.guild_id or 0, interaction.user.id, self.episode, enable
        )
        await update(
            interaction, embed=preview_embed(preview), view=TweetControls(interaction, preview)
        )
        self.stop()

    @discord.ui.button(label="Edit", style=discord.ButtonStyle.primary)
    async def edit(
        self, interaction: discord.Interaction, button: discord.ui.Button[TweetControls]
    ) -> None:
        episode_id, current = await services_of(interaction).tweets.current_text(
            interaction.guild_id or 0, interaction.user.id, self.episode
        )
        await interaction.response.send_modal(
            EditTweetModal(episode_id, current, from_preview=True)
        )

    @discord.ui.button(label="Regenerate", style=discord.ButtonStyle.secondary)
    async def regenerate(
        self, interaction: discord.Interaction, button: discord.ui.Button[TweetControls]
    ) -> None:
        services = services_of(interaction)
        await services.limits["tweet generate"].hit(
            (interaction.guild_id, interaction.user.id, "tweet generate")
        )
        await acknowledge_update(interaction)
        preview, fallback = await services.tweets.generate(
            interaction.guild_id or 0, interaction.user.id, _display_name(interaction), self.episode
        )
        await update(
            interaction,
            embed=preview_embed(preview, FALLBACK_NOTE if fallback else None),
            view=TweetControls(interaction, preview),
        )
        self.stop()

    @discord.ui.button(label="Remove link", style=discord.ButtonStyle.secondary)
    async def link(
        self, interaction: discord.Interaction, button: discord.ui.Button[TweetControls]
    ) -> None:
        preview = await services_of(interaction).tweets.set_include_url(
            interaction.guild_id or 0, interaction.user.id, self.episode, button.label == "Add link"
        )
        await update(
            interaction, embed=preview_embed(preview), view=TweetControls(interaction, preview)
        )
        self.stop()


def _display_name(interaction: discord.Interaction) -> str:
    return interaction.user.display_name


@app_commands.guild_only()
class TweetCog(
    commands.GroupCog, group_name="tweet", group_description="Your own tweet for an episode"
):
    def __init__(self, bot: commands.Bot) -> None:
        self.bot = bot

    @app_commands.command(name="generate", description="A fresh AI draft of your tweet")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @rate_limited("tweet generate")
    @host_only()
    async def generate(self, interaction: discord.Interaction, episode: str) -> None:
        await acknowledge(interaction)
        preview, fallback = await services_of(interaction).tweets.generate(
            interaction.guild_id or 0, interaction.user.id, _display_name(interaction), episode
        )
        await answer(
            interaction,
            embed=preview_embed(preview, FALLBACK_NOTE if fallback else None),
            view=TweetControls(interaction, preview),
        )

    @opens_modal
    @app_commands.command(name="edit", description="Write your tweet yourself")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @host_only()
    async def edit(self, interaction: discord.Interaction, episode: str) -> None:
        episode_id, current = await services_of(interaction).tweets.current_text(
            interaction.guild_id or 0, interaction.user.id, episode
        )
        await interaction.response.send_modal(EditTweetModal(episode_id, current))

    @app_commands.command(
        name="show", description="Preview your tweet exactly as it will be posted"
    )
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @host_only()
    async def show(self, interaction: discord.Interaction, episode: str) -> None:
        preview = await services_of(interaction).tweets.show(
            interaction.guild_id or 0, interaction.user.id, episode
        )
        await answer(
            interaction, embed=preview_embed(preview), view=TweetControls(interaction, preview)
        )

    @app_commands.command(name="enable", description="Post your tweet when the stream starts")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @host_only()
    async def enable(self, interaction: discord.Interaction, episode: str) -> None:
        await self._switch(interaction, episode, True)

    @app_commands.command(name="disable", description="Don't post your tweet")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @host_or_former_host()
    async def disable(self, interaction: discord.Interaction, episode: str) -> None:
        await self._switch(interaction, episode, False)

    async def _switch(self, interaction: discord.Interaction, episode: str, enabled: bool) -> None:
        preview = await services_of(interaction).tweets.set_enabled(
            interaction.guild_id or 0, interaction.user.id, episode, enabled
        )
        message = (
            f"Enabled: your tweet for “{preview.episode_title}” will be posted when the stream starts."
            if enabled
            else f"Disabled: your tweet for “{preview.episode_title}” won't be posted."
        )
        await answer(interaction, message)

    @app_commands.command(name="approve", description="Approve your tweet's text for posting")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @host_only()
    async def approve(self, interaction: discord.Interaction, episode: str) -> None:
        preview = await services_of(interaction).tweets.approve(
            interaction.guild_id or 0, interaction.user.id, episode
        )
        note = (
            "It will be posted when the stream starts."
            if preview.enabled
            else "It is disabled: /tweet enable it to have it posted."
        )
        await answer(
            interaction,
            f"Approved your tweet for “{preview.episode_title}”. {note}",
            embed=preview_embed(preview),
        )

    @app_commands.command(
        name="autopost", description="Let your drafts post without your approval (off by default)"
    )
    @app_commands.describe(enabled="True: drafts post unseen; False: only what you approved")
    @host_only()
    async def autopost(self, interaction: discord.Interaction, enabled: bool) -> None:
        await services_of(interaction).tweets.set_autopost(
            interaction.guild_id or 0, interaction.user.id, _display_name(interaction), enabled
        )
        message = (
            "Autopost on: your drafts will be posted even if you never approved them."
            if enabled
            else "Autopost off: only tweets you approved (or wrote) will be posted."
        )
        await answer(interaction, message)

    @app_commands.command(name="post-now", description="Post your tweet now instead of waiting")
    @app_commands.describe(episode="The episode")
    @app_commands.autocomplete(episode=episode_autocomplete)
    @rate_limited("tweet post-now")
    @host_only()
    async def post_now(self, interaction: discord.Interaction, episode: str) -> None:
        await acknowledge(interaction)
        result = await services_of(interaction).tweets.post_now(
            interaction.guild_id or 0, interaction.user.id, episode
        )
        line = result.line
        message = post_now_text(line.status, line.reason, line.tweet_url, line.text)
        await answer(interaction, message, embed=preview_embed(result.preview))


async def setup(bot: commands.Bot) -> None:
    await bot.add_cog(TweetCog(bot))
