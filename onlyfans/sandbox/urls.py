from django.urls import path

from onlyfans.sandbox import views

urlpatterns = [
    path(
        "api/<str:account>/chats/<str:recipient_id>/messages",
        views.send_message,
        name="sandbox-send",
    ),
    path("_faults", views.add_fault, name="sandbox-faults"),
]
