"""Public, server-rendered giveaway pages: landing with join and progress, task redirect, fairness, claim."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django import forms
from django.contrib import messages
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from giveaways import fairness, selectors, services
from giveaways.models import Giveaway, GiveawayTask, Participant


def with_track_id(url: str, track_id: str) -> str:
    """The link with `track_id=<id>` in its query; its other query parameters are kept."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "track_id"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("track_id", track_id)])))


class JoinForm(forms.Form):
    email = forms.EmailField(label="Your email address", max_length=254)


def _public_giveaway(slug: str) -> Giveaway:
    giveaway = get_object_or_404(Giveaway.objects.select_related("project"), slug=slug)
    if giveaway.status == Giveaway.Status.DRAFT:
        raise Http404("No such giveaway.")
    return giveaway


def _session_key(giveaway: Giveaway) -> str:
    return f"giveaway:{giveaway.pk}:track_id"


def _participant(request, giveaway: Giveaway, required: bool = False) -> Participant | None:
    """From ?track_id=, else the one this browser joined with; test participants may use every page."""
    track_id = request.GET.get("track_id") or request.session.get(_session_key(giveaway))
    if track_id and "\x00" in track_id:  # PostgreSQL text cannot hold it, so it cannot even be looked up
        raise BadRequest("A track_id cannot contain NUL characters.")
    participant = Participant.objects.filter(giveaway=giveaway, track_id=track_id).first() if track_id else None
    if participant is None and required:
        raise Http404("Unknown track_id for this giveaway.")
    return participant


def giveaway_page(request, slug):
    giveaway = _public_giveaway(slug)
    participant = _participant(request, giveaway)
    states = selectors.task_states(participant) if participant else []
    context = {
        "giveaway": giveaway,
        "participant": participant,
        "tasks": giveaway.tasks.all(),
        "states": states,
        "all_done": bool(participant) and all(s.completed for s in states),
        "rewards": giveaway.rewards.all(),
        "running": giveaway.is_running(),
        "now": timezone.now(),
        "draw": selectors.draw_of(giveaway),
        "form": JoinForm(),
        "entries": giveaway.participants.filter(is_test=False).count(),
    }
    return render(request, "giveaways/giveaway.html", context)


@require_POST
def join(request, slug):
    giveaway = _public_giveaway(slug)
    form = JoinForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Please enter a valid email address.")
        return redirect("giveaways:page", slug=slug)
    try:
        participant, created = services.join_giveaway(giveaway=giveaway, email=form.cleaned_data["email"])
    except services.JoinRefused as refused:
        messages.error(request, str(refused))
        return redirect("giveaways:page", slug=slug)
    if not created:
        # The track_id is the participant's key to claim a reward: an email address alone must not reveal it.
        messages.info(request, "This email address has already joined. Use the personal link you got then.")
        return redirect("giveaways:page", slug=slug)
    request.session[_session_key(giveaway)] = participant.track_id
    messages.success(request, "You're in! Bookmark this page: its link is your personal entry.")
    return HttpResponseRedirect(
        f"{reverse('giveaways:page', args=[slug])}?{urlencode({'track_id': participant.track_id})}"
    )


def task_redirect(request, slug, task_id):
    """Record the click and send the participant to the host's task page with their track_id."""
    giveaway = _public_giveaway(slug)
    task = get_object_or_404(GiveawayTask, pk=task_id, giveaway=giveaway)
    participant = _participant(request, giveaway, required=True)
    if not (participant.is_test or giveaway.is_running()):
        messages.error(request, "This giveaway is not running.")
        return redirect("giveaways:page", slug=slug)
    services.record_click(participant=participant, task=task)
    return HttpResponseRedirect(with_track_id(task.website_url, participant.track_id))


def fairness_page(request, slug):
    giveaway = _public_giveaway(slug)
    draw = selectors.draw_of(giveaway)
    winners = draw.winners.select_related("reward", "participant") if draw else []
    context = {
        "giveaway": giveaway,
        "draw": draw,
        "winners": [(w.reward, fairness.entrant_hash(w.participant.track_id)) for w in winners],
    }
    return render(request, "giveaways/fairness.html", context)


def claim_page(request, slug):
    giveaway = _public_giveaway(slug)
    participant = _participant(request, giveaway, required=True)
    win = selectors.win_of(participant)
    context = {
        "giveaway": giveaway,
        "participant": participant,
        "win": win,
        "reward_link": with_track_id(win.reward.reward_url, participant.track_id) if win else None,
        "drawn": selectors.draw_of(giveaway) is not None,
        "all_done": selectors.all_tasks_completed(participant),
    }
    return render(request, "giveaways/claim.html", context)
