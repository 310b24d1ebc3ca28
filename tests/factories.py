from __future__ import annotations

import factory

from accounts.models import Tenant, User
from events.models import Calendar

PASSWORD = "correct horse battery staple"


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    email = factory.Sequence(lambda n: f"user{n}@example.test")
    username = factory.LazyAttribute(lambda o: o.email)
    role = User.Role.MEMBER
    can_setup_integrations = True
    password = factory.django.Password(PASSWORD)


class CalendarFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Calendar

    owner = factory.SubFactory(UserFactory)
    tenant = factory.LazyAttribute(lambda o: o.owner.tenant)
    name = factory.Sequence(lambda n: f"Calendar {n}")
